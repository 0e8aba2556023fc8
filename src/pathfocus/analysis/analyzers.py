"""Open the right slide analyser for a run folder, so `analyze`, `evaluate` and the benchmark need no
knowledge of which model a run holds (SEW or the exhaustive MIL baseline)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from pathfocus.analysis.slide_analysis import SlideAnalyzer
from pathfocus.runs import read_run_config


def _sew(run_dir: Path, device: str | None, workers: int | None) -> SlideAnalyzer:
    from pathfocus.analysis.sew import SEWAnalyzer

    return SEWAnalyzer(run_dir, device=device, read_threads=workers)


def _mil(run_dir: Path, device: str | None, workers: int | None) -> SlideAnalyzer:
    from pathfocus.analysis.mil import MILAnalyzer

    return MILAnalyzer(run_dir, device, num_workers=workers)


# NOTE: imported lazily so loading a SEW run never imports the baseline's encoder stack and vice versa.
ANALYZERS: dict[str, Callable[[Path, str | None, int | None], SlideAnalyzer]] = {"sew": _sew, "mil": _mil}


def load_analyzer(run_dir: str | os.PathLike[str], device: str | None = None,
                  workers: int | None = None) -> SlideAnalyzer:
    """The :class:`SlideAnalyzer` for a SEW or MIL run folder.

    ``device`` None: the GPU when present. ``workers``: reader threads (SEW's windows) or processes (the
    baseline's tiles); None: a default from the CPUs this process may use. Other run kinds are refused
    with a :class:`~pathfocus.errors.CheckpointError` naming the folder.
    """
    run = Path(run_dir)
    config = read_run_config(run, kind=tuple(ANALYZERS))
    return ANALYZERS[str(config["kind"])](run, device, workers)
