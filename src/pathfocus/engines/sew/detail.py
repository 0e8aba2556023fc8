"""Reading SEW's chosen windows at high magnification and encoding their tiles.

Each window is read in one request (its tiles' bounding box at the tiles' mpp), cut back into the grid's
tiles, and only its tissue tiles are encoded, by the same frozen encoder and at the same input size as
the exhaustive baseline's. Windows are read concurrently on a small thread pool when one is given
(OpenSlide reads release the GIL and fill their own buffers), in order, so results equal a sequential pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Executor

import numpy as np
import torch

from pathfocus.engines.tile_settings import TileSettings
from pathfocus.engines.windows import SlideWindows
from pathfocus.models.tile_encoder import TileEncoder
from pathfocus.slide.reader import Slide


def read_window_tiles(slide: Slide, windows: SlideWindows, window: int,
                      tiles: TileSettings) -> tuple[np.ndarray, int]:
    """The tissue tiles of ``window`` (n x size x size x 3 uint8, the order of ``windows.tiles_of``) and the
    pixels the read took (the reader's own plan for it: the level it reads and the size at that level)."""
    x, y, w, h = (int(v) for v in windows.boxes[window])
    base, size = windows.tile_base, tiles.tile_size
    out_size = (w // base * size, h // base * size)
    _, read_size, _ = slide.read_plan(out_size, tiles.mpp)
    pixels = slide.read_region((x, y), out_size, tiles.mpp)
    out = []
    for index in windows.tiles_of(window):
        col = (int(windows.tile_coords[index, 0]) - x) // base
        row = (int(windows.tile_coords[index, 1]) - y) // base
        out.append(pixels[row * size:(row + 1) * size, col * size:(col + 1) * size])
    return np.stack(out), read_size[0] * read_size[1]


@torch.no_grad()
def encode_windows(slide: Slide, windows: SlideWindows, chosen: Sequence[int], tiles: TileSettings,
                   encoder: TileEncoder, executor: Executor | None = None,
                   ) -> tuple[torch.Tensor, torch.Tensor, list[int], list[np.ndarray]]:
    """Read and encode the chosen windows: tile features (T x D, on the encoder's device), the position in
    ``chosen`` of each tile's window (T, sorted), the pixels each window's read took, and each window's
    tissue tiles."""
    def read(window: int) -> tuple[np.ndarray, int]:
        return read_window_tiles(slide, windows, window, tiles)

    results = list(executor.map(read, chosen)) if executor is not None else [read(w) for w in chosen]
    parts, window_pixels = [r[0] for r in results], [r[1] for r in results]
    device = next(encoder.parameters()).device
    stacked = torch.from_numpy(np.concatenate(parts)).to(device).permute(0, 3, 1, 2).float().div_(255.0)
    features = torch.cat([encoder(chunk) for chunk in stacked.split(tiles.batch_size)])
    owner = torch.repeat_interleave(torch.arange(len(parts)), torch.tensor([len(p) for p in parts]))
    return features, owner.to(device), window_pixels, parts
