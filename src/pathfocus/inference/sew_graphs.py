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
from concurrent.futures import Executor
from dataclasses import dataclass

import numpy as np
import torch
from scipy import ndimage
from torch_geometric.data import Batch, Data

from pathfocus.models.sew import DetailOutput, GlobalOutput, SEWConfig, SEWModel, select_regions
from pathfocus.slide.reader import Slide
from pathfocus.slide.superpixels import graph_from_slide, superpixel_graph
from pathfocus.units import Region

log = logging.getLogger(__name__)
CROP_SIDE = 64  # side of the region crops kept for galleries (markers)
# bump when the code that builds graphs changes what it builds: caches made by older code are then not
# reused, and analysing a run trained on older graphs warns (2: coarser SLIC copies, strided window graphs)
GRAPH_VERSION = 2

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


def build_thumbnail_graph(slide: Slide, config: SEWConfig, keep_pixels: bool = False) -> ThumbnailGraph:
    """Thumbnail at ``config.thumbnail_mpp`` -> tissue -> SLIC graph (NoTissueError on blank slides)."""
    graph, thumbnail, tissue = graph_from_slide(slide, mpp=config.thumbnail_mpp,
                                                n_segments=config.n_superpixels,
                                                compactness=config.superpixel_compactness)
    bpp = config.thumbnail_mpp / slide.mpp
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


def region_window(anchor: np.ndarray, graph: ThumbnailGraph, config: SEWConfig, score: float = 0.0) -> Region:
    """The detail window (level-0 box) centred on a node's anchor and clamped inside the slide."""
    side = int(round(config.detail_window_base / graph.slide_mpp))
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


def read_detail_graph(slide: Slide, graph: ThumbnailGraph, region: Region, config: SEWConfig,
                      embedder: NodeEmbedder | None = None, keep_crop: bool = False) -> DetailGraph:
    """Read ``region`` at ``config.detail_mpp`` and build its tissue superpixel subgraph."""
    size = config.detail_window
    pixels = slide.read_region((region.x, region.y), (size, size), config.detail_mpp)
    mask = window_mask(graph, region, size)
    if not mask.any():  # cannot happen for anchored windows; kept so a hand-made region still works
        mask = np.ones_like(mask)
    sub = superpixel_graph(pixels, mask, n_segments=config.detail_superpixels,
                           compactness=config.superpixel_compactness, base_origin=(region.x, region.y),
                           base_per_pixel=region.w / size, texture=True,
                           slic_max_side=config.detail_slic_side, feature_stride=config.detail_feature_stride)
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
        raise ValueError(msg)
    scores = np.asarray(focus, dtype=np.float32)
    span = float(scores.max() - scores.min()) if scores.size else 0.0
    scaled = (scores - scores.min()) / span if span > 1e-12 else np.ones_like(scores)
    painted = np.concatenate([[0.0], scaled]).astype(np.float32)
    return painted[graph.labels]


@dataclass
class SEWForward:
    """One pass of SEW over a batch of slides: both branches, the chosen nodes and what was read."""

    global_out: GlobalOutput
    detail_out: DetailOutput | None
    logits: torch.Tensor  # B x C fused
    chosen: list[torch.Tensor]  # per slide: indices of the visited nodes, region order
    details: list[list[DetailGraph]]  # per slide: the regions read (empty for branches="global")
    regions: list[list[Region]]  # per slide: the focus windows with their focus scores
    visited_focus: torch.Tensor | None  # focus logits of the visited nodes, concatenated in region order


def sew_forward(model: SEWModel, graphs: list[ThumbnailGraph],
                fetch: Callable[[int, Region], DetailGraph], explore: float = 0.0,
                generator: torch.Generator | None = None,
                candidates: list[torch.Tensor] | None = None,
                executor: Executor | None = None) -> SEWForward:
    """Global branch -> focus -> top-k windows -> ``fetch(slide index, window)`` -> detail branch -> fusion.

    ``fetch`` reads (or recalls from a cache) a window's subgraph, so training and analysis share the
    same path from focus scores to reads. ``candidates`` (training) limits each slide's choice to a
    fixed pool of nodes, which bounds how many distinct windows a run ever reads. ``executor``
    (analysis) fetches a slide's windows concurrently, in the same order: the same result, sooner.
    """
    config = model.config
    device = next(model.parameters()).device
    batch = Batch.from_data_list([graph.to_data() for graph in graphs]).to(device)
    global_out = model.forward_global(batch.x, batch.edge_index, batch.batch, len(graphs))
    offsets = batch.ptr.tolist()
    chosen, regions, details = [], [], []
    for i, graph in enumerate(graphs):
        focus = global_out.focus[offsets[i]:offsets[i + 1]].detach().cpu()
        anchors = torch.from_numpy(graph.anchors)
        side = config.detail_window_base / graph.slide_mpp
        pool = candidates[i] if candidates is not None else torch.arange(len(focus))
        picked = select_regions(focus[pool], anchors[pool], config.k, config.min_region_gap * side, explore,
                                generator)
        nodes = pool[picked]
        scores = torch.sigmoid(focus[nodes]).tolist()
        windows = [region_window(graph.anchors[node], graph, config, score)
                   for node, score in zip(nodes.tolist(), scores, strict=True)]
        chosen.append(nodes)
        regions.append(windows)
        if not config.uses_detail:
            details.append([])
        elif executor is None:
            details.append([fetch(i, window) for window in windows])
        else:
            details.append(list(executor.map(lambda window, slide=i: fetch(slide, window), windows)))
    if not config.uses_detail:
        fused = model.fuse(global_out.logits, None)
        return SEWForward(global_out, None, fused, chosen, details, regions, None)
    flat = [detail.to_data() for slide_details in details for detail in slide_details]
    region_batch = Batch.from_data_list(flat).to(device)
    region_slide = torch.repeat_interleave(torch.arange(len(graphs)),
                                           torch.tensor([len(d) for d in details])).to(device)
    detail_out = model.forward_detail(region_batch.x, region_batch.edge_index, region_batch.batch,
                                      region_slide, len(graphs))
    visited = torch.cat([nodes.to(device) + offsets[i] for i, nodes in enumerate(chosen)])
    return SEWForward(global_out, detail_out, model.fuse(global_out.logits, detail_out.logits), chosen,
                      details, regions, global_out.focus[visited])
