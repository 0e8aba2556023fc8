"""Did the regions a method looked at land on the lesion? Scored against lesion annotations or masks.

* **hit** (per positive slide): at least one region is on a lesion;
* **precision@k** (per positive slide): the share of its first k regions that are on a lesion.

A region is *on* a lesion when at least ``min_fraction`` of its box is lesion (a quarter by default: a
window read at high magnification that is a quarter lesion shows the lesion). Rates are means over the
positive slides that have an annotation; lesion-free slides have nothing to hit and are left out.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pathfocus.data.annotations import LesionMask, find_annotation, read_lesion_mask
from pathfocus.units import Region

MIN_FRACTION = 0.25


@dataclass
class LocalisationScore:
    """One slide: whether a region hit the lesion, the share of regions on it, and the lesion fractions."""

    slide_id: str
    hit: bool
    precision: float
    fractions: list[float]


def score_regions(
    slide_id: str, regions: Sequence[Region], lesion: LesionMask, min_fraction: float = MIN_FRACTION
) -> LocalisationScore:
    """Score one slide's regions (in the order the method ranked them) against its lesion mask."""
    boxes = np.array([[r.x, r.y, r.w, r.h] for r in regions], dtype=float).reshape(-1, 4)
    fractions = lesion.fraction(boxes) if len(boxes) else np.zeros(0)
    on = fractions >= min_fraction
    return LocalisationScore(
        slide_id, bool(on.any()), float(on.mean()) if len(on) else 0.0, [float(f) for f in fractions]
    )


def lesion_mask_of(
    annotations: str | os.PathLike[str], slide_id: str, slide_size: tuple[int, int], slide_mpp: float
) -> LesionMask | None:
    """The slide's lesion mask from an annotation folder, or None when it has no annotation."""
    found = find_annotation(Path(annotations), slide_id)
    return None if found is None else read_lesion_mask(found, slide_size, slide_mpp)


def summarise(scores: Sequence[LocalisationScore]) -> dict[str, float | int | None]:
    """``lesion_hit_rate`` and ``precision_at_k`` over the scored (positive, annotated) slides."""
    if not scores:
        return {"lesion_hit_rate": None, "precision_at_k": None, "n_localised_slides": 0}
    return {
        "lesion_hit_rate": float(np.mean([s.hit for s in scores])),
        "precision_at_k": float(np.mean([s.precision for s in scores])),
        "n_localised_slides": len(scores),
    }
