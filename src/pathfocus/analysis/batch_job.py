"""`analyze`'s work on one slide as a small picklable object, so a cluster worker can run it.

The job carries only the run folder and options; the analyser (model weights and all) is built from them
once per process (:func:`cached_analyzer`) and reused for every later slide that process gets, locally or
on a Dask worker, instead of shipping weights with each task.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pathfocus.analysis.analyzers import load_analyzer
from pathfocus.analysis.slide_analysis import SlideAnalyzer


@functools.lru_cache(maxsize=2)
def cached_analyzer(run: Path, device: str | None, workers: int | None, slide_mpp: float | None,
                    class_names: str | None) -> SlideAnalyzer:
    """:func:`load_analyzer`, built once per process for the same arguments."""
    return load_analyzer(run, device=device, workers=workers, slide_mpp=slide_mpp, class_names=class_names)


@dataclass(frozen=True)
class AnalyzeJob:
    """Analyse one slide and write its outputs under ``out`` (what ``pathfocus analyze`` does per slide)."""

    run: Path
    out: Path
    device: str | None = None
    workers: int | None = None
    slide_mpp: float | None = None
    class_names: str | None = None
    annotations: Path | None = None
    overwrite: bool = False

    def analyzer(self) -> SlideAnalyzer:
        """This process's analyser for the run (built on first use)."""
        return cached_analyzer(self.run, self.device, self.workers, self.slide_mpp, self.class_names)

    def __call__(self, path: Path) -> dict[str, Any]:
        """Analyse ``path``, write its JSON, heatmap and GeoJSON; return its status columns."""
        from pathfocus.analysis.localisation import lesion_mask_of
        from pathfocus.analysis.slide_outputs import write_slide_outputs
        from pathfocus.slide.reader import open_slide

        analysis = self.analyzer().analyze(path)
        with open_slide(path, mpp=self.slide_mpp) as slide:
            mpp = analysis.extra.get("slide_mpp") or slide.mpp
            lesion = (
                lesion_mask_of(self.annotations, analysis.slide_id, slide.dimensions, mpp)
                if self.annotations is not None
                else None
            )
            write_slide_outputs(self.out, analysis, slide_mpp=mpp, lesion=lesion, slide=slide)
        return {
            "label": analysis.label,
            "analysis_seconds": round(analysis.seconds, 3),
            "pixels_read": analysis.pixels_read,
        }

    def is_done(self, path: Path) -> bool:
        """Whether the slide's JSON (written last) exists and ``overwrite`` is off."""
        from pathfocus.analysis.slide_outputs import output_paths

        return not self.overwrite and output_paths(self.out, path.stem)["json"].is_file()
