"""What SEW reads from a slide: the thumbnail superpixel graph and the detail subgraphs of its regions.

Shared by training (which caches both) and analysis. Nodes are tissue superpixels only, and each node's
*anchor* is the pixel of its own superpixel nearest its centroid (a centroid can fall on glass when a
superpixel is C-shaped), so a region window centred on an anchor, then clamped inside the slide,
always holds tissue. The detail subgraph is SLIC on the window downscaled to ``detail_slic_side``
(the cost driver, see FACTS.md) with colour, stain and texture features measured at full resolution, on
a regular 1-in-``detail_feature_stride``^2 sample of the window's pixels (the gradient on all of them).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from scipy import ndimage
from torch_geometric.data import Data

from pathfocus.engines.sew.reading import SEWReading
from pathfocus.errors import InputError
from pathfocus.slide.reader import Slide
from pathfocus.slide.superpixels import graph_from_slide, superpixel_graph
from pathfocus.units import Region

log = logging.getLogger(__name__)
CROP_SIDE = 64  # side of the region crops kept for galleries (markers)

# window RGB (HxWx3 uint8), superpixel labels (HxW, 0 = none), node count -> node_count x D features
NodeEmbedder = Callable[[np.ndarray, np.ndarray, int], np.ndarray]


@dataclass
class ThumbnailGraph:
    """The global-branch input of one slide, with what is needed to place windows and paint maps."""

    slide_id: str
    x: torch.Tensor  # N x F node features
    edge_index: torch.Tensor  # 2 x E
    anchors: np.ndarray  # N x 2 level-0 (x, y) of a tissue pixel of each node
    slide_size: tuple[int, int]  # level-0 (w, h)
    slide_mpp: float
    base_per_pixel: float  # level-0 pixels per thumbnail pixel
    mask: np.ndarray  # thumbnail tissue mask (H x W bool)
    labels: np.ndarray | None = None  # thumbnail superpixel labels (0 = no tissue, node i = i + 1)
    thumbnail: np.ndarray | None = None

    def to_data(self) -> Data:
        return Data(x=self.x, edge_index=self.edge_index, num_nodes=int(self.x.shape[0]))

    def tensors(self) -> dict[str, torch.Tensor]:
        """What training caches (safetensors): everything but the thumbnail pixels and labels."""
        return {"x": self.x, "edge_index": self.edge_index, "anchors": torch.from_numpy(self.anchors),
                "mask": torch.from_numpy(self.mask.astype(np.uint8)),
                "meta": torch.tensor([*self.slide_size, self.slide_mpp, self.base_per_pixel],
                                     dtype=torch.float64)}

    @classmethod
    def from_tensors(cls, slide_id: str, tensors: dict[str, torch.Tensor]) -> ThumbnailGraph:
        width, height, mpp, bpp = tensors["meta"].tolist()
        return cls(slide_id, tensors["x"], tensors["edge_index"], tensors["anchors"].numpy(),
                   (int(width), int(height)), float(mpp), float(bpp), tensors["mask"].numpy().astype(bool))


@dataclass
class DetailGraph:
    """The superpixel subgraph of one region window read at the detail resolution."""

    region: Region
    x: torch.Tensor
    edge_index: torch.Tensor
    pixels_read: int
    crop: np.ndarray | None = None  # CROP_SIDE^2 RGB preview of the window

    def to_data(self) -> Data:
        return Data(x=self.x, edge_index=self.edge_index, num_nodes=int(self.x.shape[0]))


def build_thumbnail_graph(slide: Slide, reading: SEWReading, keep_pixels: bool = False) -> ThumbnailGraph:
    """Thumbnail at ``reading.thumbnail_mpp`` -> tissue -> SLIC graph (NoTissueError on blank slides)."""
    graph, thumbnail, tissue = graph_from_slide(slide, mpp=reading.thumbnail_mpp,
                                                n_segments=reading.n_superpixels,
                                                compactness=reading.superpixel_compactness)
    bpp = reading.thumbnail_mpp / slide.mpp
    anchors = (anchor_pixels(graph.labels) + 0.5) * bpp
    return ThumbnailGraph(slide.slide_id, graph.data.x, graph.data.edge_index, anchors,
                          tuple(slide.dimensions), slide.mpp, bpp, tissue.mask,
                          graph.labels if keep_pixels else None, thumbnail if keep_pixels else None)


def anchor_pixels(labels: np.ndarray) -> np.ndarray:
    """N x 2 (col, row) of the pixel of each superpixel (labels 1..N) nearest its own centroid.

    Ties go to the first pixel in raster order. Most superpixels own the grid pixel nearest their centroid
    (rounded, halves down: the raster-first of tied pixels); only the others (C-shaped, clipped by the
    tissue border) are searched pixel by pixel.
    """
    flat = labels.ravel()
    n = int(flat.max())
    height, width = labels.shape
    count = np.maximum(np.bincount(flat, minlength=n + 1)[1:], 1)
    rows, cols = np.indices(labels.shape, dtype=np.float64)
    cy = np.bincount(flat, rows.ravel(), minlength=n + 1)[1:] / count
    cx = np.bincount(flat, cols.ravel(), minlength=n + 1)[1:] / count
    row = np.clip(np.ceil(cy - 0.5), 0, height - 1).astype(np.intp)
    col = np.clip(np.ceil(cx - 0.5), 0, width - 1).astype(np.intp)
    anchors = np.stack([col, row], axis=1).astype(np.float64)
    missed = np.flatnonzero(labels[row, col] != np.arange(1, n + 1))
    if missed.size:
        anchors[missed] = _nearest_own_pixels(labels, missed, cy, cx)
    return anchors


def _nearest_own_pixels(labels: np.ndarray, nodes: np.ndarray, cy: np.ndarray, cx: np.ndarray) -> np.ndarray:
    """len(nodes) x 2 (col, row): for each node, its raster-first pixel at least distance to its centroid."""
    selected = np.zeros(int(labels.max()) + 1, bool)
    selected[nodes + 1] = True
    flat = labels.ravel()
    where = np.flatnonzero(selected.take(flat))  # raster order
    rows, cols = np.divmod(where, labels.shape[1])
    owner = flat[where] - 1
    distance = (rows - cy.take(owner)) ** 2 + (cols - cx.take(owner)) ** 2
    nearest = np.asarray(ndimage.minimum(distance, owner, nodes))
    lookup = np.zeros(len(cy))
    lookup[nodes] = nearest
    hits = np.flatnonzero(distance == lookup.take(owner))
    found, first = np.unique(owner[hits], return_index=True)  # sorted node ids, first hit of each
    order = np.searchsorted(found, nodes)
    picked = hits[first[order]]
    return np.stack([cols[picked], rows[picked]], axis=1).astype(np.float64)


def region_window(anchor: np.ndarray, graph: ThumbnailGraph, reading: SEWReading,
                  score: float = 0.0) -> Region:
    """The detail window (level-0 box) centred on a node's anchor and clamped inside the slide."""
    side = int(round(reading.detail_window_microns / graph.slide_mpp))
    width, height = graph.slide_size
    x = int(np.clip(round(anchor[0] - side / 2), 0, max(width - side, 0)))
    y = int(np.clip(round(anchor[1] - side / 2), 0, max(height - side, 0)))
    return Region(x, y, side, side, float(score))


def window_mask(graph: ThumbnailGraph, region: Region, size: int) -> np.ndarray:
    """The thumbnail tissue mask sampled (nearest) on the ``size`` x ``size`` grid of a window."""
    step = region.w / size
    cols = ((region.x + (np.arange(size) + 0.5) * step) / graph.base_per_pixel).astype(np.intp)
    rows = ((region.y + (np.arange(size) + 0.5) * step) / graph.base_per_pixel).astype(np.intp)
    cols = np.clip(cols, 0, graph.mask.shape[1] - 1)
    rows = np.clip(rows, 0, graph.mask.shape[0] - 1)
    return graph.mask[rows][:, cols]  # two plain gathers: ~6x faster than np.ix_ on a 512^2 window


def read_detail_graph(slide: Slide, graph: ThumbnailGraph, region: Region, reading: SEWReading,
                      embedder: NodeEmbedder | None = None, keep_crop: bool = False) -> DetailGraph:
    """Read ``region`` at ``reading.detail_mpp`` and build its tissue superpixel subgraph."""
    size = reading.detail_window
    pixels = slide.read_region((region.x, region.y), (size, size), reading.detail_mpp)
    mask = window_mask(graph, region, size)
    if not mask.any():  # cannot happen for anchored windows; kept so a hand-made region still works
        mask = np.ones_like(mask)
    sub = superpixel_graph(pixels, mask, n_segments=reading.detail_superpixels,
                           compactness=reading.superpixel_compactness, base_origin=(region.x, region.y),
                           base_per_pixel=region.w / size, texture=True,
                           slic_max_side=reading.detail_slic_side,
                           feature_stride=reading.detail_feature_stride)
    x = sub.data.x
    if embedder is not None:
        extra = torch.from_numpy(np.asarray(embedder(pixels, sub.labels, sub.num_nodes), dtype=np.float32))
        x = torch.cat([x, extra], dim=1)
    crop = None
    if keep_crop:
        from PIL import Image

        crop = np.asarray(Image.fromarray(pixels).resize((CROP_SIDE, CROP_SIDE), Image.Resampling.BOX))
    return DetailGraph(region, x, sub.data.edge_index, size * size, crop)


def focus_heatmap(graph: ThumbnailGraph, focus: np.ndarray) -> np.ndarray:
    """Focus scores painted over the thumbnail's superpixels, min-max scaled to [0, 1] (0 off tissue)."""
    if graph.labels is None:
        msg = "focus_heatmap needs a ThumbnailGraph built with keep_pixels=True"
        raise InputError(msg)
    scores = np.asarray(focus, dtype=np.float32)
    span = float(scores.max() - scores.min()) if scores.size else 0.0
    scaled = (scores - scores.min()) / span if span > 1e-12 else np.ones_like(scores)
    painted = np.concatenate([[0.0], scaled]).astype(np.float32)
    return painted[graph.labels]
