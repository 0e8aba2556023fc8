"""Tile encoding: find a slide's tissue, tile it at a resolution, read and encode every tile.

The exhaustive baseline's engine, shared by its training (which caches the features) and its analysis.
Every tissue tile is read at the run's resolution (0.5 um/px by default): that reading is the cost SEW is
measured against. Tiles stream through a DataLoader (reader processes decode while the encoder runs);
only the N x D features are kept, never the pixels.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader

from pathfocus.devices import cpu_threads, encoder_threads
from pathfocus.engines.tile_settings import TileSettings
from pathfocus.errors import NoTissueError
from pathfocus.models.tile_encoder import TileEncoder
from pathfocus.slide.dataset import TileDataset
from pathfocus.slide.reader import Slide, open_slide
from pathfocus.slide.tiling import TileGrid, tile_grid
from pathfocus.slide.tissue import TissueConfig, tissue_from_thumbnail

THUMBNAIL_MPP = 8.0


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


def encode_slide(slide_path: str | os.PathLike[str], encoder: TileEncoder, settings: TileSettings,
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


def encode_tiles(slide: Slide, grid: TileGrid, encoder: TileEncoder, settings: TileSettings,
                 device: torch.device) -> torch.Tensor:
    """Read every tile of ``grid`` and return the encoder's pooled features, (N, D) float32 on the CPU."""
    dataset = TileDataset(slide, grid.coords, grid.spec.size, grid.spec.mpp)
    loader = DataLoader(dataset, batch_size=settings.batch_size, num_workers=settings.workers,
                        pin_memory=device.type == "cuda")
    encoder = encoder.to(device).eval()
    chunks = []
    with torch.inference_mode(), cpu_threads(device, encoder_threads(settings.workers)):
        for tiles, _ in loader:
            batch = tiles.to(device, non_blocking=True).float().div_(255.0)
            chunks.append(encoder(batch).float().cpu())
    return torch.cat(chunks)
