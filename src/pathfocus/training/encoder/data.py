"""Tiles for self-supervised pretraining: a seeded sample of each training slide's tissue tiles.

Tiles are read once (at the tile settings' resolution, through the same reader and tissue grid as the
encoders' users) and kept in memory, shrunk to the encoder's input size; every epoch draws new views from them
(:mod:`pathfocus.training.encoder.augment`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from pathfocus.engines.tile_settings import TileSettings
from pathfocus.slide.dataset import TileDataset
from pathfocus.slide.reader import open_slide
from pathfocus.slide.tiling import tile_grid
from pathfocus.training.encoder.config import SSLSettings


def sample_tiles(slide_paths: Sequence[str], tiles: TileSettings, ssl: SSLSettings,
                 store_size: int) -> torch.Tensor:
    """Up to ``ssl.tiles_per_slide`` tissue tiles of every slide, N x 3 x store x store uint8 (seeded).

    Slides that cannot be read or hold no tissue are skipped by the caller's checks; here they raise.
    """
    rng = np.random.default_rng(ssl.seed)
    chunks = []
    for path in slide_paths:
        with open_slide(path) as slide:
            grid = tile_grid(slide, mpp=tiles.mpp, size=tiles.tile_size, min_tissue=tiles.min_tissue)
        if len(grid) == 0:
            continue
        picked = np.sort(rng.choice(len(grid), size=min(len(grid), ssl.tiles_per_slide), replace=False))
        dataset = TileDataset(path, grid.coords[picked], tiles.tile_size, tiles.mpp)
        loader = DataLoader(dataset, batch_size=32, num_workers=tiles.workers)
        for batch, _ in loader:
            small = torch.nn.functional.interpolate(
                batch.float(),
                size=(store_size, store_size),
                mode="bilinear",
                antialias=True,
                align_corners=False,
            )
            chunks.append(small.round().clamp(0, 255).to(torch.uint8))
    return (
        torch.cat(chunks) if chunks else torch.zeros(0, 3, store_size, store_size, dtype=torch.uint8)
    )


class StoredTiles(Dataset):
    """Item i: stored tile i (uint8); the task makes the two views of a whole batch at once."""

    def __init__(self, tiles: torch.Tensor) -> None:
        self.tiles = tiles

    def __len__(self) -> int:
        return len(self.tiles)

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.tiles[index]
