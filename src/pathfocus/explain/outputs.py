"""The explain folder: per image a heatmap array and an overlay PNG, then an index that the report reads.

Layout of ``DIR`` (every file atomic; ``explain.json`` is written last, so its presence means done)::

    <name>.npy            H×W float32 Grad-CAM heatmap in [0, 1] on the model's input grid
    <name>_overlay.png    the heatmap blended over the image (image resolution)
    index.csv             one row per image: name, source, predicted, target, prob_<class>..., scores
    explain.json          {"kind": "explain", "run", "model", "method", "class_names", "target",
                           "items": [...same rows...], "localisation": {...} when masks were given}
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pathfocus.explain.gradcam import Explanation, overlay
from pathfocus.fileio import atomic_path, read_json, write_csv, write_json

INDEX_JSON = "explain.json"
INDEX_CSV = "index.csv"
OVERLAY_SUFFIX = "_overlay.png"


@dataclass
class ExplainedImage:
    """One explained image: a unique ``name`` in the folder, where it came from, the RGB pixels shown
    under the overlay, the explanation and (optionally) its localisation scores."""

    name: str
    source: str
    image: np.ndarray
    explanation: Explanation
    target: int
    scores: Mapping[str, Any] | None = None


def unique_names(sources: Sequence[str | os.PathLike[str]]) -> list[str]:
    """File-system-safe names from the sources' stems, suffixed ``_2``, ``_3`` ... when they repeat."""
    seen: dict[str, int] = {}
    names = []
    for source in sources:
        stem = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(source).stem) or "image"
        seen[stem] = seen.get(stem, 0) + 1
        names.append(stem if seen[stem] == 1 else f"{stem}_{seen[stem]}")
    return names


def write_explanations(out_dir: str | os.PathLike[str], items: Sequence[ExplainedImage],
                       class_names: Sequence[str], header: Mapping[str, Any],
                       localisation: Mapping[str, Any] | None = None) -> Path:
    """Write the heatmaps, overlays and both indexes of an explain folder; return ``explain.json``'s path.

    ``header`` holds the provenance (run, model, method, requested target); it is merged into
    ``explain.json`` under its own keys.
    """
    from PIL import Image

    out = Path(out_dir)
    rows = []
    for item in items:
        heat_path = out / f"{item.name}.npy"
        overlay_path = out / f"{item.name}{OVERLAY_SUFFIX}"
        with atomic_path(heat_path) as tmp, open(tmp, "wb") as handle:
            np.save(handle, item.explanation.heatmap.astype(np.float32))
        with atomic_path(overlay_path) as tmp:
            Image.fromarray(overlay(item.image, item.explanation.heatmap)).save(tmp, format="PNG")
        probabilities = item.explanation.probabilities
        row: dict[str, Any] = {
            "name": item.name,
            "source": item.source,
            "heatmap": heat_path.name,
            "overlay": overlay_path.name,
            "predicted": class_names[item.explanation.predicted],
            "target": class_names[item.target],
            "confidence": float(probabilities[item.explanation.predicted]),
        }
        row.update({f"prob_{name}": float(p) for name, p in zip(class_names, probabilities, strict=True)})
        row.update(dict(item.scores or {}))
        rows.append(row)
    import pandas as pd

    write_csv(out / INDEX_CSV, pd.DataFrame(rows))
    document = {"kind": "explain", **dict(header), "class_names": list(class_names), "items": rows}
    if localisation is not None:
        document["localisation"] = dict(localisation)
    return write_json(out / INDEX_JSON, document)


def read_explanations(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """Read ``explain.json`` of an explain folder (paths in ``items`` stay relative to the folder)."""
    return read_json(Path(folder) / INDEX_JSON)
