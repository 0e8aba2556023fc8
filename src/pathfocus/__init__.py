"""pathfocus: KFDE patch classification and SEW focus-driven whole-slide analysis.

The public Python API, imported lazily (``import pathfocus`` loads neither torch nor timm)::

    slide = pathfocus.open_slide("slide.svs")                  # OpenSlide, with mpp-aware reads
    model = pathfocus.create_model("kfde", num_classes=2)      # KFDE on a timm backbone
    analyzer = pathfocus.load_analyzer("runs/sew")             # SEW or the exhaustive baseline
    result = analyzer.analyze(Path("slide.svs"))              # prediction, focus regions, heatmap

Training goes through ``train_patch``, ``train_sew`` and ``train_mil`` with their settings dataclasses
(``PatchTrainConfig``, ``SEWTrainConfig``, ``MILTrainConfig``); ``evaluate_run`` scores any run on its
held-out split; ``discover_markers`` mines prognostic markers; ``build_report`` writes the HTML report.
User errors are :class:`PathfocusError` subclasses (``pathfocus.errors``).
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.2.0"

_API = {
    "open_slide": "pathfocus.slide.reader",
    "Slide": "pathfocus.slide.reader",
    "Region": "pathfocus.units",
    "create_model": "pathfocus.models.kfde",
    "load_analyzer": "pathfocus.analysis.analyzers",
    "evaluate_run": "pathfocus.analysis.evaluate",
    "train_patch": "pathfocus.training.patch.run",
    "train_sew": "pathfocus.training.sew.run",
    "train_mil": "pathfocus.training.mil.run",
    "PatchTrainConfig": "pathfocus.training.patch.config",
    "SEWTrainConfig": "pathfocus.training.sew.config",
    "MILTrainConfig": "pathfocus.training.mil.config",
    "discover_markers": "pathfocus.markers.pipeline",
    "make_synthetic_cohort": "pathfocus.data.synthetic.slides",
    "make_synthetic_patches": "pathfocus.data.synthetic.patches",
    "build_report": "pathfocus.report.document",
    "PathfocusError": "pathfocus.errors",
}
__all__ = sorted(_API)


def __getattr__(name: str) -> Any:
    if name in _API:
        value = getattr(importlib.import_module(_API[name]), name)
        globals()[name] = value  # later look-ups skip this function
        return value
    msg = f"module 'pathfocus' has no attribute {name!r}"
    raise AttributeError(msg)


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
