"""The exhaustive baseline at work: tile all tissue, read and encode every tile, pool with attention.

This is the engine around :mod:`pathfocus.models.mil` (tiling, batching, timing, outputs). It is kept
honest on purpose: every tissue tile is read at the run's resolution (0.5 um/px by default), so its
``seconds`` and ``pixels_read`` are the cost SEW is measured against. Encoding may use a smaller input
size than the tile (``encoder_input_size``) to keep CPU runs short; reading never does.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from pathfocus.devices import cpu_threads, pick_device
from pathfocus.errors import NoTissueError
from pathfocus.inference.slide_analysis import SlideAnalysis
from pathfocus.models.mil import ExhaustiveMIL, FrozenTileEncoder, GatedAttentionMIL
from pathfocus.runs import load_run_weights, read_run_config
from pathfocus.slide.dataset import TileDataset
from pathfocus.slide.reader import Slide, open_slide
from pathfocus.slide.tiling import TileGrid, tile_grid
from pathfocus.slide.tissue import TissueConfig, tissue_from_thumbnail
from pathfocus.units import Region

log = logging.getLogger(__name__)
THUMBNAIL_MPP = 8.0
TOP_REGIONS = 8


@dataclass(frozen=True)
class TileSettings:
    """Which tiles the baseline reads and how it feeds them to the encoder (saved in the run config)."""

    tile_size: int = 256
    mpp: float = 0.5
    min_tissue: float = 0.5
    batch_size: int = 64
    num_workers: int = 1  # a reader process decoding tiles while the encoder runs


@dataclass
class SlideTiles:
    """A slide's tissue tiles and their encoder features (what the training cache stores)."""

    slide: Slide
    grid: TileGrid
    thumbnail: np.ndarray  # at THUMBNAIL_MPP, also the tissue mask's source
    features: torch.Tensor  # (N, D) float32 on the CPU

    @property
    def pixels_read(self) -> int:
        return len(self.grid) * self.grid.spec.size**2


def encode_slide(slide_path: str | os.PathLike[str], encoder: FrozenTileEncoder, settings: TileSettings,
                 device: torch.device) -> SlideTiles:
    """Find tissue, tile it at ``settings.mpp`` and encode every tile (raises SlideError/NoTissueError)."""
    with open_slide(slide_path) as slide:  # the handle is released after reading (reopened on demand)
        thumbnail = slide.thumbnail(THUMBNAIL_MPP)
        tissue = tissue_from_thumbnail(slide, thumbnail, TissueConfig(thumbnail_mpp=THUMBNAIL_MPP))
        grid = tile_grid(slide, mpp=settings.mpp, size=settings.tile_size, min_tissue=settings.min_tissue,
                         tissue=tissue)
        if len(grid) == 0:
            msg = (f"no {settings.tile_size} px tile at {settings.mpp} um/px of {slide.path} is at least "
                   f"{settings.min_tissue:.0%} tissue; lower min_tissue or check the slide")
            raise NoTissueError(msg)
        features = encode_tiles(slide, grid, encoder, settings, device)
    return SlideTiles(slide=slide, grid=grid, thumbnail=thumbnail, features=features)


def encode_tiles(slide: Slide, grid: TileGrid, encoder: FrozenTileEncoder, settings: TileSettings,
                 device: torch.device) -> torch.Tensor:
    """Read every tile of ``grid`` and return the encoder's pooled features, (N, D) float32 on the CPU."""
    dataset = TileDataset(slide, grid.coords, grid.spec.size, grid.spec.mpp)
    loader = DataLoader(dataset, batch_size=settings.batch_size, num_workers=settings.num_workers,
                        pin_memory=device.type == "cuda")
    encoder = encoder.to(device).eval()
    chunks = []
    with torch.inference_mode(), cpu_threads(device, encoder_threads(settings.num_workers)):
        for tiles, _ in loader:
            batch = tiles.to(device, non_blocking=True).float().div_(255.0)
            chunks.append(encoder(batch).float().cpu())
    return torch.cat(chunks)


def encoder_threads(workers: int) -> int:
    """Torch threads that leave one core per DataLoader worker reading tiles."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return cores - workers if workers > 0 else cores


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
                 num_workers: int | None = None) -> None:
        self.run_dir = Path(run_dir)
        self.config = read_run_config(self.run_dir, kind="mil")
        self.class_names = [str(name) for name in self.config["class_names"]]
        self.device = pick_device(device)
        self.settings = TileSettings(**self.config["tiles"])
        if num_workers is not None:
            self.settings = TileSettings(**{**self.config["tiles"], "num_workers": num_workers})
        self.model = build_mil_model(self.config)
        load_run_weights(self.run_dir, self.model)
        self.model.to(self.device).eval()

    def analyze(self, slide_path: str | os.PathLike[str]) -> SlideAnalysis:
        """Read and encode every tissue tile, pool with attention; ``seconds`` covers all of it."""
        started = time.perf_counter()
        tiles = encode_slide(slide_path, self.model.encoder, self.settings, self.device)
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
            extra={"method": "mil", "slide_mpp": tiles.slide.mpp, "n_tiles": len(tiles.grid),
                   "tile_size": tiles.grid.spec.size, "read_mpp": tiles.grid.spec.mpp,
                   "encoder": self.config["encoder"]["name"]},
        )


def build_mil_model(config: dict[str, Any]) -> ExhaustiveMIL:
    """The (untrained) baseline a run config describes; never downloads (weights come from the run)."""
    encoder_config = config["encoder"]
    encoder = FrozenTileEncoder(encoder_config["name"], input_size=encoder_config["input_size"],
                                pretrained=False)
    head_config = config["head"]
    head = GatedAttentionMIL(encoder.num_features, len(config["class_names"]),
                             hidden_dim=head_config["hidden_dim"], attention_dim=head_config["attention_dim"],
                             dropout=head_config["dropout"])
    return ExhaustiveMIL(encoder, head)
