"""The windows SEW may read: blocks of the exhaustive baseline's own tile grid, and how each relates to the
thumbnail's superpixels.

Both methods tile a slide the same way (origin (0, 0), tiles of ``tile_size`` px at ``mpp``, kept when at
least ``min_tissue`` of a tile is tissue on the same thumbnail mask). A SEW *window* is a block of
``window_tiles`` x ``window_tiles`` grid tiles; its tokens are the tissue tiles inside it, encoded exactly
as the baseline encodes them. So the only difference between the methods is which tiles they read, and
"the baseline restricted to SEW's windows" is the same features, fewer of them.

Each window's focus is the overlap-weighted mean of the focus logits of the superpixels it covers on the
thumbnail (``overlap``: windows x nodes, rows summing to one).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from pathfocus.engines.tile_settings import TileSettings
from pathfocus.errors import NoTissueError
from pathfocus.slide.tiling import tissue_tile_coords
from pathfocus.slide.tissue import TissueMask
from pathfocus.units import Region


@dataclass
class SlideWindows:
    """Candidate windows of one slide (all level-0 pixels)."""

    tile_coords: np.ndarray  # T x 2 (x, y) of the tissue tiles, the baseline's bag
    tile_base: int  # level-0 side of one tile
    boxes: np.ndarray  # W x 4 (x, y, w, h): the bounding box of each window's tissue tiles
    tile_window: np.ndarray  # T: the window each tissue tile belongs to
    overlap: np.ndarray  # W x N: share of each window's thumbnail pixels in each superpixel node

    def __len__(self) -> int:
        return len(self.boxes)

    @property
    def centres(self) -> np.ndarray:
        """W x 2 level-0 (x, y) window centres."""
        return self.boxes[:, :2] + self.boxes[:, 2:] / 2.0

    def tiles_of(self, window: int) -> np.ndarray:
        """Indices (into ``tile_coords``) of the tissue tiles of ``window``, in raster order."""
        return np.flatnonzero(self.tile_window == window)

    def region(self, window: int, score: float = 0.0) -> Region:
        x, y, w, h = (int(v) for v in self.boxes[window])
        return Region(x, y, w, h, float(score))

    def tensors(self) -> dict[str, torch.Tensor]:
        """What a training cache stores (safetensors)."""
        return {
            "tile_coords": torch.from_numpy(self.tile_coords),
            "boxes": torch.from_numpy(self.boxes),
            "tile_window": torch.from_numpy(self.tile_window),
            "overlap": torch.from_numpy(self.overlap),
            "tile_base": torch.tensor(self.tile_base),
        }

    @classmethod
    def from_tensors(cls, tensors: dict[str, torch.Tensor]) -> SlideWindows:
        return cls(
            tensors["tile_coords"].numpy(),
            int(tensors["tile_base"]),
            tensors["boxes"].numpy(),
            tensors["tile_window"].numpy(),
            tensors["overlap"].numpy(),
        )


def tile_base_size(tiles: TileSettings, slide_mpp: float) -> int:
    """Level-0 side of a tile, as the reader plans it (never up-sampled: at least ``tile_size``)."""
    return int(round(tiles.tile_size * max(tiles.mpp / slide_mpp, 1.0)))


def slide_windows(
    tissue: TissueMask,
    labels: np.ndarray,
    labels_base_per_pixel: float,
    slide_size: tuple[int, int],
    slide_mpp: float,
    tiles: TileSettings,
    window_tiles: int,
) -> SlideWindows:
    """The candidate windows of a slide from the tissue mask tiles are kept by and the thumbnail superpixel
    ``labels`` (0 = no tissue, node i = i + 1; ``labels_base_per_pixel`` level-0 px per label pixel);
    raises NoTissueError when no tile is tissue."""
    base = tile_base_size(tiles, slide_mpp)
    coords, _ = tissue_tile_coords(tissue, slide_size, base, base, tiles.min_tissue)
    if len(coords) == 0:
        msg = (
            f"no {tiles.tile_size} px tile at {tiles.mpp} um/px of slide {tissue.slide_id or ''} is at least "
            f"{tiles.min_tissue:.0%} tissue; lower min_tissue or check the slide"
        )
        raise NoTissueError(msg)
    block = coords // (base * window_tiles)
    keys, tile_window = np.unique(block[:, 1] * (slide_size[0] + 1) + block[:, 0], return_inverse=True)
    low = np.full((len(keys), 2), np.iinfo(np.int64).max, np.int64)
    np.minimum.at(low, tile_window, coords)
    high = np.zeros((len(keys), 2), np.int64)
    np.maximum.at(high, tile_window, coords + base)
    boxes = np.concatenate([low, high - low], axis=1)
    return SlideWindows(
        coords.astype(np.int64),
        base,
        boxes,
        tile_window.astype(np.int64),
        window_overlap(boxes, labels, labels_base_per_pixel),
    )


def window_overlap(boxes: np.ndarray, labels: np.ndarray, base_per_pixel: float) -> np.ndarray:
    """W x N: the share of each box's labelled thumbnail pixels that belongs to each node (rows sum to 1;
    a box over no labelled pixel takes the node nearest its centre).

    Vectorised over boxes of the same size (on a gigapixel slide there are tens of thousands of windows,
    nearly all the size of one block): one ``bincount`` per size instead of one per window.
    """
    n_nodes = int(labels.max())
    height, width = labels.shape
    boxes = np.asarray(boxes, np.int64).reshape(-1, 4)
    left = (boxes[:, 0] // base_per_pixel).astype(np.int64)
    top = (boxes[:, 1] // base_per_pixel).astype(np.int64)
    right = np.maximum(left + 1, np.minimum(width, np.ceil((boxes[:, 0] + boxes[:, 2]) / base_per_pixel)))
    bottom = np.maximum(top + 1, np.minimum(height, np.ceil((boxes[:, 1] + boxes[:, 3]) / base_per_pixel)))
    right, bottom = right.astype(np.int64), bottom.astype(np.int64)
    extent = (np.minimum(bottom, height) - np.minimum(top, height),
              np.minimum(right, width) - np.minimum(left, width))
    counts = _box_label_counts(labels, n_nodes, (top, left), extent)
    empty = np.flatnonzero(counts.sum(axis=1) == 0)
    if len(empty):
        rows, cols = np.nonzero(labels)
        for index in empty:
            centre = ((top[index] + bottom[index]) / 2, (left[index] + right[index]) / 2)
            counts[index] = _nearest_node(labels, rows, cols, centre, n_nodes)
    return (counts / counts.sum(axis=1, keepdims=True)).astype(np.float32)


def _box_label_counts(labels: np.ndarray, n_nodes: int, corner: tuple[np.ndarray, np.ndarray],
                      extent: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """W x N pixels of each node inside each box (top-left ``corner`` (rows, cols), ``extent`` (h, w))."""
    counts = np.zeros((len(corner[0]), n_nodes), np.int64)
    flat = labels.ravel()
    sizes = np.stack(extent, axis=1)
    for box_h, box_w in np.unique(sizes[(sizes > 0).all(axis=1)], axis=0):
        group = np.flatnonzero((sizes[:, 0] == box_h) & (sizes[:, 1] == box_w))
        offsets = (np.arange(box_h)[:, None] * labels.shape[1] + np.arange(box_w)[None, :]).ravel()
        start = corner[0][group] * labels.shape[1] + corner[1][group]
        keys = np.arange(len(group))[:, None] * (n_nodes + 1) + flat[start[:, None] + offsets[None, :]]
        counts[group] = np.bincount(keys.ravel(), minlength=len(group) * (n_nodes + 1)).reshape(
            len(group), n_nodes + 1)[:, 1:]
    return counts


def _nearest_node(labels: np.ndarray, rows: np.ndarray, cols: np.ndarray, centre: tuple[float, float],
                  n_nodes: int) -> np.ndarray:
    """One-hot of the node whose labelled pixel (``rows``, ``cols``: all of them) is nearest ``centre``."""
    nearest = int(np.argmin((rows - centre[0]) ** 2 + (cols - centre[1]) ** 2))
    one_hot = np.zeros(n_nodes, np.int64)
    one_hot[labels[rows[nearest], cols[nearest]] - 1] = 1
    return one_hot
