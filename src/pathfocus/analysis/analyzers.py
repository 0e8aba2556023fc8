"""Open the right slide analyser for a run folder, so `analyze`, `evaluate` and the benchmark need no
knowledge of which model a run holds (SEW or the exhaustive MIL baseline)."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd

from pathfocus.analysis.slide_analysis import SlideAnalyzer
from pathfocus.data.slide_labels import label_names
from pathfocus.runs import read_run_config


def _sew(run_dir: Path, device: str | None, workers: int | None, slide_mpp: float | None) -> SlideAnalyzer:
    from pathfocus.analysis.sew import SEWAnalyzer

    return SEWAnalyzer(run_dir, device=device, read_threads=workers, slide_mpp=slide_mpp)


def _mil(run_dir: Path, device: str | None, workers: int | None, slide_mpp: float | None) -> SlideAnalyzer:
    from pathfocus.analysis.mil import MILAnalyzer

    return MILAnalyzer(run_dir, device, num_workers=workers, slide_mpp=slide_mpp)


# NOTE: imported lazily so loading a SEW run never imports the baseline's encoder stack and vice versa.
ANALYZERS: dict[str, Callable[[Path, str | None, int | None, float | None], SlideAnalyzer]] = {
    "sew": _sew, "mil": _mil}


def load_analyzer(run_dir: str | os.PathLike[str], device: str | None = None,
                  workers: int | None = None, slide_mpp: float | None = None,
                  class_names: str | Sequence[str] | None = None) -> SlideAnalyzer:
    """The :class:`SlideAnalyzer` for a SEW or MIL run folder.

    ``device`` None: the GPU when present. ``workers``: reader threads (SEW's windows) or processes (the
    baseline's tiles); None: a default from the CPUs this process may use. ``slide_mpp``: the level-0
    microns per pixel of the slides to analyse, for slides whose metadata lacks it (None: the
    metadata's). ``class_names`` (``"normal,tumour"``, one per class in the run's order) replaces the
    names the run shows (by default its recorded names, see
    :func:`~pathfocus.data.slide_labels.display_class_names`). Other run kinds are refused with a
    :class:`~pathfocus.errors.CheckpointError` naming the folder.
    """
    run = Path(run_dir)
    config = read_run_config(run, kind=tuple(ANALYZERS))
    analyzer = ANALYZERS[str(config["kind"])](run, device, workers, slide_mpp)
    if class_names is not None:
        classes = pd.DataFrame({"label": [str(c) for c in config["class_names"]]})
        names = label_names(classes, class_names)
        analyzer.class_names = [names[str(c)] for c in config["class_names"]]  # type: ignore[attr-defined]
    return analyzer
