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
from pathfocus.engines.tile_settings import TISSUE_MPP, TileSettings
from pathfocus.errors import NoTissueError, SlideError
from pathfocus.models.tile_encoder import TileEncoder
from pathfocus.slide.dataset import TileDataset
from pathfocus.slide.reader import Slide, open_slide
from pathfocus.slide.tiling import TileGrid, tile_grid
from pathfocus.slide.tissue import TissueConfig, tissue_from_thumbnail

THUMBNAIL_MPP = TISSUE_MPP  # the baseline's thumbnail (heatmaps) is the one tissue is found on


@dataclass
class SlideTiles:
    """A slide's tissue tiles and their encoder features (what the training cache stores)."""

    slide: Slide
    grid: TileGrid
    thumbnail: np.ndarray  # at THUMBNAIL_MPP, also the tissue mask's source
    features: torch.Tensor  # (N, D) float32 on the CPU
    pixels_read: int  # what the tile reads asked OpenSlide for, counted by the reader(s)
    thumbnail_pixels_read: int


def encode_slide(slide_path: str | os.PathLike[str], encoder: TileEncoder, settings: TileSettings,
                 device: torch.device) -> SlideTiles:
    """Find tissue, tile it at ``settings.mpp`` and encode every tile (raises SlideError/NoTissueError)."""
    with open_slide(slide_path) as slide:  # the handle is released after reading (reopened on demand)
        thumbnail = slide.thumbnail(THUMBNAIL_MPP)
        thumbnail_pixels = slide.reads.pixels
        tissue = tissue_from_thumbnail(slide, thumbnail, TissueConfig(thumbnail_mpp=THUMBNAIL_MPP))
        grid = tile_grid(slide, mpp=settings.mpp, size=settings.tile_size, min_tissue=settings.min_tissue,
                         tissue=tissue)
        if len(grid) == 0:
            msg = (f"no {settings.tile_size} px tile at {settings.mpp} um/px of {slide.path} is at least "
                   f"{settings.min_tissue:.0%} tissue; lower min_tissue or check the slide")
            raise NoTissueError(msg)
        features, pixels = encode_tiles(slide, grid, encoder, settings, device)
    return SlideTiles(slide=slide, grid=grid, thumbnail=thumbnail, features=features, pixels_read=pixels,
                      thumbnail_pixels_read=thumbnail_pixels)


def encode_tiles(slide: Slide, grid: TileGrid, encoder: TileEncoder, settings: TileSettings,
                 device: torch.device) -> tuple[torch.Tensor, int]:
    """Read every tile of ``grid``: the encoder's pooled features, (N, D) float32 on the CPU, and the pixels
    the reads took (counted by the reader in each worker process)."""
    dataset = TileDataset(slide, grid.coords, grid.spec.size, grid.spec.mpp, count_reads=True)
    loader = DataLoader(dataset, batch_size=settings.batch_size, num_workers=settings.workers,
                        pin_memory=device.type == "cuda")
    encoder = encoder.to(device).eval()
    chunks, pixels = [], 0
    with torch.inference_mode(), cpu_threads(device, encoder_threads(settings.workers)):
        try:
            for tiles, _, read in loader:
                batch = tiles.to(device, non_blocking=True).float().div_(255.0)
                chunks.append(encoder(batch).float().cpu())
                pixels += int(read.sum())
        except SlideError as error:  # a corrupt tile: the slide fails with the reader's sentence
            raise SlideError(_reader_sentence(error)) from None
    return torch.cat(chunks), pixels


def _reader_sentence(error: SlideError) -> str:
    """The reader's one-sentence message (which names the tile's level-0 position), without the traceback
    a DataLoader wraps around an error raised in one of its worker processes."""
    last = str(error).strip().splitlines()[-1]
    return last.removeprefix(f"{type(error).__module__}.{type(error).__qualname__}: ")
