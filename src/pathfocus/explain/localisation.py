"""How well a Grad-CAM map sits on the structures that decide the class (where those are known).

On synthetic patches the renderer also returns a mask of the discriminative structures, so a map can
be scored against ground truth: the *energy share* (sum of the map inside the mask / its total sum) and
the *pointing game* (does the map's maximum fall inside the mask, optionally within a tolerance). The
share a uniform map would get equals the mask's area fraction, which is reported next to it as the
chance level. This is how the KFDE paper's Figure 2 claim ("KFDE concentrates better than the
baseline") is measured here instead of eyeballed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from pathfocus.errors import InputError
from pathfocus.explain.gradcam import explain_images


def fit_mask(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A boolean mask on the heatmap's grid (nearest-neighbour resize when the sizes differ)."""
    binary = np.asarray(mask)
    if binary.ndim == 3:
        binary = binary.any(axis=2)
    if binary.ndim != 2:
        msg = f"a ground-truth mask must be 2-D (or H×W×C), got shape {binary.shape}"
        raise InputError(msg)
    binary = binary > 0
    if binary.shape == tuple(shape):
        return binary
    from PIL import Image

    resized = Image.fromarray(binary.astype(np.uint8) * 255).resize((shape[1], shape[0]),
                                                                     Image.Resampling.NEAREST)
    return np.asarray(resized) > 127


def energy_share(heatmap: np.ndarray, mask: np.ndarray) -> float:
    """Sum of the map inside the mask divided by its total sum (NaN when the map is all zero)."""
    heat = np.clip(np.asarray(heatmap, dtype=np.float64), 0.0, None)
    inside = fit_mask(mask, heat.shape)
    total = heat.sum()
    if total <= 0.0:
        return math.nan
    return float(heat[inside].sum() / total)


def pointing_hit(heatmap: np.ndarray, mask: np.ndarray, tolerance: int = 0) -> bool:
    """Whether the map's maximum lies in the mask or within ``tolerance`` pixels (Chebyshev) of it.

    Ties (several pixels at the maximum) count as a hit only if all of them do, so a flat map cannot win.
    """
    heat = np.asarray(heatmap, dtype=np.float64)
    inside = fit_mask(mask, heat.shape)
    if tolerance > 0:
        from scipy.ndimage import binary_dilation

        inside = binary_dilation(inside, structure=np.ones((2 * tolerance + 1,) * 2, dtype=bool))
    peaks = heat == heat.max()
    return bool(inside[peaks].all())


def mask_fraction(mask: np.ndarray, shape: tuple[int, int]) -> float:
    """The area fraction of the mask on the heatmap grid: the energy share of a uniform map."""
    return float(fit_mask(mask, shape).mean())


def score_map(heatmap: np.ndarray, mask: np.ndarray, tolerance: int = 0) -> dict[str, Any]:
    """Energy share, pointing-game hit and mask area fraction of one map (None where undefined:
    an empty mask or an all-zero map)."""
    heat = np.asarray(heatmap, dtype=np.float32)
    fraction = mask_fraction(mask, heat.shape)
    share = energy_share(heat, mask) if fraction > 0 else math.nan
    defined = not math.isnan(share)
    return {"energy_share": share if defined else None,
            "pointing_hit": pointing_hit(heat, mask, tolerance) if defined else None,
            "mask_fraction": fraction}


def score_maps(heatmaps: Sequence[np.ndarray], masks: Sequence[np.ndarray],
               tolerance: int = 0) -> dict[str, Any]:
    """Per-image and mean localisation scores of a set of maps against their masks.

    Images whose mask is empty (nothing discriminative drawn) are left out of the means and counted
    in ``n_skipped``; so are all-zero maps (no positive evidence: the share is undefined). Undefined
    values are None so the result writes as valid JSON.
    """
    if len(heatmaps) != len(masks):
        msg = f"got {len(heatmaps)} heatmaps but {len(masks)} masks; pass one mask per image"
        raise InputError(msg)
    rows = [score_map(heat, mask, tolerance) for heat, mask in zip(heatmaps, masks, strict=True)]
    valid = [r for r in rows if r["energy_share"] is not None]
    return {
        "energy_share_mean": _mean([r["energy_share"] for r in valid]),
        "energy_share_std": _std([r["energy_share"] for r in valid]),
        "pointing_game": _mean([float(r["pointing_hit"]) for r in valid]),
        "mask_fraction_mean": _mean([r["mask_fraction"] for r in valid]),
        "n_images": len(valid),
        "n_skipped": len(rows) - len(valid),
        "tolerance_px": tolerance,
        "per_image": rows,
    }


def compare_models(
    models: Mapping[str, nn.Module],
    images: torch.Tensor,
    masks: Sequence[np.ndarray],
    target_class: int | Sequence[int] | None = None,
    method: str = "gradcam",
    tolerance: int = 0,
) -> dict[str, Any]:
    """Grad-CAM localisation of several models on the same images and masks (e.g. KFDE vs baseline).

    Returns ``{"method", "tolerance_px", "models": {name: scores without per_image}}``; the first model
    whose mean energy share is highest is named in ``best`` (ties: the first given), nothing else is
    concluded here.
    """
    summary: dict[str, Any] = {"method": method, "tolerance_px": tolerance, "models": {}}
    for name, model in models.items():
        explanations = explain_images(model, images, target_class=target_class, method=method)
        scores = score_maps([e.heatmap for e in explanations], masks, tolerance)
        scores.pop("per_image")
        summary["models"][name] = scores
    shares = {name: s["energy_share_mean"] for name, s in summary["models"].items()
              if s["energy_share_mean"] is not None}
    summary["best"] = max(shares, key=shares.__getitem__) if shares else None
    return summary


def _mean(values: Sequence[float]) -> float | None:
    """Mean, or None (JSON null) when there is nothing to average."""
    return float(np.mean(values)) if len(values) else None


def _std(values: Sequence[float]) -> float | None:
    return float(np.std(values)) if len(values) else None

