"""What the SEW-where-focus-matters benchmark measures on one held-out slide: SEW, its controls, the baseline.

Every method sees the same tiles through the same encoder; they differ in which tiles they read:

* ``sew``: the windows the focus predictor ranks highest (the analysis a user runs, timed);
* ``sew_random``: k windows drawn at random among the same candidates, through the same detail branch;
* ``baseline_on_sew``: the exhaustive baseline's attention-MIL head on the tiles of SEW's windows only;
* ``thumbnail_only`` / ``detail_only``: SEW's global branch alone, its detail branch alone;
* ``exhaustive``: every tissue tile (timed), and its top-k attention tiles for localisation.

A read-budget curve comes from one read of the top ``max(ks)`` windows per slide (the selection is nested:
the first k of the top K are the top k) and from predictions on each prefix.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pathfocus.analysis.localisation import score_regions
from pathfocus.analysis.mil import MILAnalyzer, top_regions
from pathfocus.analysis.sew import SEWAnalyzer, SlideScan
from pathfocus.data.annotations import LesionMask
from pathfocus.units import Region


@dataclass
class SlideResult:
    """Positive-class probabilities, pixels, seconds and lesion hits of every method on one slide."""

    slide_id: str
    label: int
    probability: dict[str, float] = field(default_factory=dict)  # method -> P(positive)
    curve: dict[str, dict[int, float]] = field(default_factory=dict)  # method -> k -> P(positive)
    curve_pixels: dict[int, int] = field(default_factory=dict)  # k -> pixels SEW read for its top k
    pixels: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    hit: dict[str, bool] = field(default_factory=dict)  # method -> a region on the lesion (positives)
    precision: dict[str, float] = field(default_factory=dict)


def random_picker(seed: int):  # type: ignore[no-untyped-def]
    """A window picker that draws k candidates at random (seeded per slide by the caller)."""
    generator = torch.Generator().manual_seed(seed)

    def pick(graph: Any, focus: torch.Tensor, k: int) -> list[int]:
        return torch.randperm(len(focus), generator=generator)[:k].tolist()

    return pick


def _positive(probabilities: list[float]) -> float:
    return float(probabilities[-1])


def _regions(scan: SlideScan, k: int) -> list[Region]:
    return [scan.graph.windows.region(w) for w in scan.chosen[:k]]


def _baseline_on_windows(mil: MILAnalyzer, scan: SlideScan, k: int) -> float:
    """The baseline's head on the tiles of the first ``k`` windows of ``scan`` (same encoder features)."""
    keep = scan.tile_window < k
    with torch.inference_mode():
        logits, _ = mil.model.head(scan.features[keep].to(mil.device))
    return _positive(torch.softmax(logits.float(), -1).tolist())


def measure_slide(
    path: Path,
    slide_id: str,
    label: int,
    sew: SEWAnalyzer,
    mil: MILAnalyzer,
    ks: list[int],
    lesion: LesionMask | None,
    seed: int,
    mil_features: torch.Tensor | None = None,
) -> tuple[SlideResult, torch.Tensor]:
    """Every method on one slide for one seed's runs. The timed analyses run back to back (interleaved
    slide by slide across the cohort). ``mil_features``: the slide's tile features from an earlier seed's
    timed run (the encoder is the same, so only the head differs); None times the baseline here."""
    result = SlideResult(slide_id, label)
    k = sew.reading.k
    timed = sew.analyze(path)
    result.probability["sew"] = _positive(timed.probabilities)
    result.seconds["sew"], result.pixels["sew"] = timed.seconds, timed.pixels_read
    result.probability["thumbnail_only"] = _positive(timed.extra["global_probabilities"])
    result.probability["detail_only"] = _positive(timed.extra["detail_probabilities"])
    if mil_features is None:
        analysis, tiles = mil.analyze_tiles(path)
        mil_features = tiles.features
        result.seconds["exhaustive"], result.pixels["exhaustive"] = analysis.seconds, analysis.pixels_read
    with torch.inference_mode():
        logits, attention = mil.model.head(mil_features.to(mil.device))
    result.probability["exhaustive"] = _positive(torch.softmax(logits.float(), -1).tolist())

    top = sew.scan(path, k=max(ks))
    rand = sew.scan(
        path, k=max(ks), pick=random_picker(seed * 100003 + zlib.crc32(slide_id.encode()) % 100003)
    )
    result.curve = {"sew": {}, "sew_random": {}, "baseline_on_sew": {}}
    for budget in ks:
        result.curve["sew"][budget] = _positive(sew.predict(top, budget)["probabilities"])
        result.curve["sew_random"][budget] = _positive(sew.predict(rand, budget)["probabilities"])
        result.curve["baseline_on_sew"][budget] = _baseline_on_windows(mil, top, budget)
        result.curve_pixels[budget] = int(sum(top.window_pixels[:budget]))
    result.probability["sew_random"] = result.curve["sew_random"][k]
    result.probability["baseline_on_sew"] = result.curve["baseline_on_sew"][k]
    result.pixels["sew_random"] = int(sum(rand.window_pixels[:k]))
    if lesion is not None and label == 1 and lesion.any:
        for name, regions in (
            ("sew", timed.regions),
            ("sew_random", _regions(rand, k)),
            ("exhaustive", _mil_regions(mil, path, attention, k)),
        ):
            score = score_regions(slide_id, regions, lesion)
            result.hit[name], result.precision[name] = score.hit, score.precision
    return result, mil_features


def _mil_regions(mil: MILAnalyzer, path: Path, attention: torch.Tensor, k: int) -> list[Region]:
    """The baseline's k highest-attention tiles (its grid rebuilt from the thumbnail, nothing re-read)."""
    from pathfocus.engines.tiles import THUMBNAIL_MPP
    from pathfocus.slide.reader import open_slide
    from pathfocus.slide.tiling import tile_grid
    from pathfocus.slide.tissue import TissueConfig, slide_tissue

    with open_slide(path) as slide:
        grid = tile_grid(
            slide,
            mpp=mil.settings.mpp,
            size=mil.settings.tile_size,
            min_tissue=mil.settings.min_tissue,
            tissue=slide_tissue(slide, TissueConfig(THUMBNAIL_MPP)),
        )
    return top_regions(grid, attention.float().cpu().numpy(), k)


def summary_rates(results: list[SlideResult], method: str) -> tuple[float | None, float | None]:
    """Lesion hit rate and precision@k of ``method`` over the positive slides it was scored on."""
    hits = [r.hit[method] for r in results if method in r.hit]
    precisions = [r.precision[method] for r in results if method in r.precision]
    return (float(np.mean(hits)) if hits else None, float(np.mean(precisions)) if precisions else None)
