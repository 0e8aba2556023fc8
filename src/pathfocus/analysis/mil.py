"""Analysing slides with the exhaustive baseline: every tissue tile read and encoded, pooled with attention.

Built on the tile engine (:mod:`pathfocus.engines.tiles`); ``seconds`` covers all of it, from opening the
file, so it is the cost SEW is measured against.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pathfocus.analysis.slide_analysis import SlideAnalysis
from pathfocus.data.slide_labels import display_class_names
from pathfocus.devices import pick_device
from pathfocus.engines.tiles import THUMBNAIL_MPP, SlideTiles, TileSettings, encode_slide
from pathfocus.models.mil import ExhaustiveMIL, GatedAttentionMIL
from pathfocus.models.tile_encoder import TileEncoder
from pathfocus.runs import load_run_weights, read_run_config
from pathfocus.slide.reader import open_slide
from pathfocus.slide.tiling import TileGrid
from pathfocus.units import Region

log = logging.getLogger(__name__)
TOP_REGIONS = 8


def attention_heatmap(grid: TileGrid, attention: np.ndarray, shape: tuple[int, int],
                      thumbnail_mpp: float) -> np.ndarray:
    """Attention painted tile by tile on the thumbnail grid, scaled so the top tile is 1."""
    heatmap = np.zeros(shape, np.float32)
    if len(attention) == 0:
        return heatmap
    scale = thumbnail_mpp / grid.spec.slide_mpp  # level-0 pixels per thumbnail pixel
    values = attention / max(float(attention.max()), 1e-12)
    side = grid.spec.base_size / scale
    for (x, y), value in zip(grid.coords, values, strict=True):
        top, left = int(round(y / scale)), int(round(x / scale))
        bottom, right = int(round(y / scale + side)), int(round(x / scale + side))
        cell = heatmap[top:max(bottom, top + 1), left:max(right, left + 1)]
        np.maximum(cell, value, out=cell)
    return heatmap


def top_regions(grid: TileGrid, attention: np.ndarray, k: int = TOP_REGIONS) -> list[Region]:
    """The ``k`` tiles with the highest attention as level-0 regions (score = attention weight)."""
    order = np.argsort(-attention, kind="stable")[:k]
    side = int(grid.spec.base_size)
    return [Region(int(grid.coords[i, 0]), int(grid.coords[i, 1]), side, side, float(attention[i]))
            for i in order]


class MILAnalyzer:
    """Analyse slides with a trained ``mil`` run folder (the exhaustive baseline)."""

    def __init__(self, run_dir: str | os.PathLike[str], device: str | None = None,
                 num_workers: int | None = None, slide_mpp: float | None = None) -> None:
        self.slide_mpp = slide_mpp  # level-0 mpp of the slides, when their metadata lacks it
        self.run_dir = Path(run_dir)
        self.config = read_run_config(self.run_dir, kind="mil")
        self.class_names = display_class_names(self.config)  # names, not 0/1, where given
        self.device = pick_device(device)
        tiles = {**self.config["tiles"], **({} if num_workers is None else {"num_workers": num_workers})}
        self.settings = TileSettings(**tiles)
        self.model = build_mil_model(self.config)
        load_run_weights(self.run_dir, self.model)
        self.model.to(self.device).eval()

    def analyze(self, slide_path: str | os.PathLike[str]) -> SlideAnalysis:
        """Read and encode every tissue tile, pool with attention; ``seconds`` covers all of it."""
        return self.analyze_tiles(slide_path)[0]

    def analyze_tiles(self, slide_path: str | os.PathLike[str]) -> tuple[SlideAnalysis, SlideTiles]:
        """:meth:`analyze`, also returning the tiles and their features (what other heads can reuse)."""
        started = time.perf_counter()
        if self.slide_mpp is None:
            tiles = encode_slide(slide_path, self.model.encoder, self.settings, self.device)
        else:  # NOTE: a Slide carrying the user's mpp goes where a path would (open_slide reopens it so)
            with open_slide(slide_path, mpp=self.slide_mpp) as slide:
                tiles = encode_slide(slide, self.model.encoder, self.settings, self.device)  # type: ignore[arg-type]
        with torch.inference_mode():
            logits, attention = self.model.head(tiles.features.to(self.device))
        probabilities = torch.softmax(logits.float(), dim=-1).cpu().numpy()
        weights = attention.float().cpu().numpy()
        heatmap = attention_heatmap(tiles.grid, weights, tiles.thumbnail.shape[:2], THUMBNAIL_MPP)
        regions = top_regions(tiles.grid, weights)
        seconds = time.perf_counter() - started
        log.debug("%s: %d tiles in %.2f s", tiles.slide.slide_id, len(tiles.grid), seconds)
        return SlideAnalysis(
            slide_id=tiles.slide.slide_id, class_names=self.class_names,
            probabilities=[float(p) for p in probabilities], regions=regions, seconds=seconds,
            pixels_read=tiles.pixels_read, thumbnail=tiles.thumbnail, thumbnail_mpp=THUMBNAIL_MPP,
            heatmap=heatmap,
            extra={"method": "mil", "run": str(self.run_dir.resolve()), "slide_mpp": tiles.slide.mpp,
                   "n_tiles": len(tiles.grid),
                   "tile_size": tiles.grid.spec.size, "read_mpp": tiles.grid.spec.mpp,
                   "encoder": self.config["encoder"]["name"], "tile_workers": self.settings.workers,
                   "thumbnail_pixels_read": tiles.thumbnail_pixels_read},
        ), tiles


def build_mil_model(config: dict[str, Any]) -> ExhaustiveMIL:
    """The (untrained) baseline a run config describes; never downloads (weights come from the run)."""
    encoder_config = config["encoder"]
    encoder = TileEncoder(encoder_config["name"], input_size=encoder_config["input_size"], pretrained=False)
    head_config = config["head"]
    head = GatedAttentionMIL(encoder.num_features, len(config["class_names"]),
                             hidden_dim=head_config["hidden_dim"], attention_dim=head_config["attention_dim"],
                             dropout=head_config["dropout"])
    return ExhaustiveMIL(encoder, head)
