"""Where a prototype sits on a slide: dispersion, nearest neighbours and closeness to focused tissue.

All distances are between region centres in level-0 pixels (multiply by the slide's mpp for microns).
Per prototype and slide:

- ``dispersion``: root-mean-square distance of the prototype's regions to their own centre of mass
  (small = one compact focus, large = scattered);
- ``nn_distance``: mean distance from each of its regions to the nearest other region of the same
  prototype (clustering at a finer scale than dispersion); NaN with fewer than two regions;
- ``focus_distance``: mean distance from each of its regions to the nearest *other* high-focus region
  of the slide (focus at or above the slide's upper quartile);
- ``colocation``: fraction of its regions with such a high-focus region within one region diagonal,
  i.e. touching or overlapping it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from pathfocus.markers.features import RegionFeatures

STATS = ("dispersion", "nn_distance", "focus_distance", "colocation")
HIGH_FOCUS_QUANTILE = 0.75


def _nearest_other(points: np.ndarray, targets: np.ndarray, same: np.ndarray | None) -> np.ndarray:
    """Distance from each point to its nearest target, skipping the target that is the point itself.

    ``same[i]`` is the index in ``targets`` of point ``i`` itself (or -1 when it is not a target).
    """
    if len(targets) == 0:
        return np.full(len(points), np.nan)
    tree = cKDTree(targets)
    k = min(2, len(targets))
    distances, indices = tree.query(points, k=k)
    distances = distances.reshape(len(points), k)
    indices = indices.reshape(len(points), k)
    if same is None:
        return distances[:, 0]
    first_is_self = indices[:, 0] == same
    result = np.where(first_is_self, distances[:, -1], distances[:, 0])
    if k == 1:
        result = np.where(first_is_self, np.nan, result)
    return result


def slide_statistics(centres: np.ndarray, labels: np.ndarray, focus: np.ndarray, diagonal: np.ndarray,
                     k: int) -> dict[str, float]:
    """Spatial statistics of one slide's regions for each of ``k`` prototypes (keys ``p{i}_{stat}``)."""
    high = focus >= np.quantile(focus, HIGH_FOCUS_QUANTILE)
    high_index = np.flatnonzero(high)
    position_in_high = np.full(len(focus), -1)
    position_in_high[high_index] = np.arange(len(high_index))
    stats: dict[str, float] = {}
    for cluster in range(k):
        members = np.flatnonzero(labels == cluster)
        points = centres[members]
        if len(members) == 0:
            values = dict.fromkeys(STATS, np.nan)
        else:
            to_focus = _nearest_other(points, centres[high_index], position_in_high[members])
            near = to_focus <= diagonal[members]
            values = {
                "dispersion": float(np.sqrt(((points - points.mean(axis=0)) ** 2).sum(axis=1).mean())),
                "nn_distance": float(np.mean(_nearest_other(points, points, np.arange(len(points)))))
                if len(members) > 1 else np.nan,
                "focus_distance": float(np.nanmean(to_focus)) if np.isfinite(to_focus).any() else np.nan,
                "colocation": float(np.mean(near[np.isfinite(to_focus)])) if np.isfinite(to_focus).any()
                else np.nan,
            }
        for name, value in values.items():
            stats[f"p{cluster}_{name}"] = value
    return stats


def spatial_table(regions: RegionFeatures, labels: np.ndarray, k: int, order: list[str]) -> pd.DataFrame:
    """Per-slide spatial statistics of every prototype (rows ``order``, columns ``p{i}_{stat}``)."""
    centres = regions.centres
    diagonal = np.hypot(regions.boxes[:, 2], regions.boxes[:, 3])
    rows = {}
    for slide_id in order:
        mask = regions.slide_ids == slide_id
        if not mask.any():
            rows[slide_id] = {f"p{c}_{name}": np.nan for c in range(k) for name in STATS}
            continue
        rows[slide_id] = slide_statistics(centres[mask], labels[mask], regions.focus[mask], diagonal[mask], k)
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "slide_id"
    return frame


def cohort_summary(table: pd.DataFrame, k: int) -> dict[str, dict[str, float | None]]:
    """Per prototype, the mean of each statistic over the slides where it is defined (None if nowhere)."""
    summary = {}
    for cluster in range(k):
        entry = {}
        for name in STATS:
            values = table[f"p{cluster}_{name}"].to_numpy(dtype=float)
            entry[f"mean_{name}"] = float(np.nanmean(values)) if np.isfinite(values).any() else None
            entry[f"n_slides_{name}"] = int(np.isfinite(values).sum())
        summary[f"p{cluster}"] = entry
    return summary
