"""``pathfocus evaluate``: score any run folder on its own held-out test split, whatever it holds."""

from __future__ import annotations

import os
from typing import Any

from pathfocus.runs import read_run_config


def evaluate_run(run_dir: str | os.PathLike[str], device: str | None = None,
                 annotations: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Evaluate a patch, SEW or MIL run on its test split; writes and returns ``RUN/eval/metrics.json``
    (slide runs: with lesion localisation scores where ``annotations``, or masks beside the labels, exist)."""
    kind = read_run_config(run_dir, kind=("patch", "sew", "mil"))["kind"]
    if kind == "patch":
        from pathfocus.analysis.patch import evaluate_patch_run

        return evaluate_patch_run(run_dir, device=device)
    from pathfocus.analysis.slide_eval import evaluate_slide_run

    return evaluate_slide_run(run_dir, device=device, annotations=annotations)
