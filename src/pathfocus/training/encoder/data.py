"""Tiles for self-supervised pretraining: a seeded sample of each training slide's tissue tiles, and the
two augmented views SimCLR contrasts.

Tiles are read once (at the tile settings' resolution, through the same reader and tissue grid as the
encoders' users) and kept in memory, shrunk to ``store_size``; every epoch draws new views from them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms import v2

from pathfocus.data.patches import RandomRot90
from pathfocus.engines.tile_settings import TileSettings
from pathfocus.models.backbones import DataConfig
from pathfocus.slide.dataset import TileDataset
from pathfocus.slide.reader import open_slide
from pathfocus.slide.tiling import tile_grid
from pathfocus.training.encoder.config import SSLSettings


def sample_tiles(slide_paths: Sequence[str], tiles: TileSettings, ssl: SSLSettings) -> torch.Tensor:
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
            small = torch.nn.functional.interpolate(batch.float(), size=(ssl.store_size, ssl.store_size),
                                                    mode="bilinear", antialias=True, align_corners=False)
            chunks.append(small.round().clamp(0, 255).to(torch.uint8))
    return torch.cat(chunks) if chunks else torch.zeros(0, 3, ssl.store_size, ssl.store_size, dtype=torch.uint8)


def view_transform(ssl: SSLSettings, data: DataConfig) -> v2.Compose:
    """One random view of a stored tile: a crop at one fixed scale (magnification is kept), flips and right-
    angle rotations, stain-like colour jitter, sometimes grey or blurred, normalised for the backbone."""
    crop = max(8, int(round(ssl.store_size * ssl.crop_fraction)))
    return v2.Compose([
        v2.RandomCrop(crop),
        v2.Resize((data.input_size, data.input_size), antialias=True),
        v2.RandomHorizontalFlip(),
        v2.RandomVerticalFlip(),
        RandomRot90(),
        v2.RandomApply([v2.ColorJitter(brightness=0.4, contrast=0.4, saturation=0.4, hue=0.08)], p=0.8),
        v2.RandomGrayscale(p=0.2),
        v2.RandomApply([v2.GaussianBlur(kernel_size=5, sigma=(0.1, 1.5))], p=0.3),
        v2.ToDtype(torch.float32, scale=True),
        v2.Normalize(data.mean, data.std),
    ])


class TwoViews(Dataset):
    """Item i: two independent views of stored tile i."""

    def __init__(self, tiles: torch.Tensor, transform: v2.Compose) -> None:
        self.tiles = tiles
        self.transform = transform

    def __len__(self) -> int:
        return len(self.tiles)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        tile = self.tiles[index]
        return self.transform(tile), self.transform(tile)
