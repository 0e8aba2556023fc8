"""What SEW sees of a slide before it reads anything at high magnification: the thumbnail superpixel graph
and the candidate windows (blocks of the baseline's tile grid) with their overlap on the superpixels.

Shared by training (which caches both per slide) and analysis. Nodes are tissue superpixels only; a
window's focus is the overlap-weighted mean of its superpixels' focus logits (see ``engines.windows``).
The thumbnail keeps at most :data:`THUMBNAIL_MAX_SIDE` pixels a side, so on a gigapixel slide what SEW
reads, segments and holds before its windows stays the same size whatever the slide's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch_geometric.data import Data

from pathfocus.engines.sew.reading import SEWReading
from pathfocus.engines.tile_settings import TISSUE_MPP
from pathfocus.engines.windows import SlideWindows, slide_windows
from pathfocus.errors import InputError
from pathfocus.slide.reader import Slide
from pathfocus.slide.superpixels import graph_from_slide
from pathfocus.slide.tissue import TissueConfig, TissueMask, slide_tissue


@dataclass
class ThumbnailGraph:
    """The global-branch input of one slide, its candidate windows, and what is needed to paint maps."""

    slide_id: str
    x: torch.Tensor  # N x F node features
    edge_index: torch.Tensor  # 2 x E
    windows: SlideWindows
    slide_size: tuple[int, int]  # level-0 (w, h)
    slide_mpp: float
    base_per_pixel: float  # level-0 pixels per thumbnail pixel
    mask: np.ndarray  # thumbnail tissue mask (H x W bool)
    labels: np.ndarray | None = None  # thumbnail superpixel labels (0 = no tissue, node i = i + 1)
    thumbnail: np.ndarray | None = None

    @property
    def thumbnail_mpp(self) -> float:
        """Microns per pixel of the thumbnail, mask and labels (coarser than the setting on a big slide)."""
        return self.base_per_pixel * self.slide_mpp

    def to_data(self) -> Data:
        return Data(x=self.x, edge_index=self.edge_index, num_nodes=int(self.x.shape[0]))

    def tensors(self) -> dict[str, torch.Tensor]:
        """What training caches (safetensors): everything but the thumbnail pixels and labels."""
        return {
            "x": self.x,
            "edge_index": self.edge_index,
            "mask": torch.from_numpy(self.mask.astype(np.uint8)),
            "meta": torch.tensor(
                [*self.slide_size, self.slide_mpp, self.base_per_pixel], dtype=torch.float64
            ),
            **{f"windows.{k}": v for k, v in self.windows.tensors().items()},
        }

    @classmethod
    def from_tensors(cls, slide_id: str, tensors: dict[str, torch.Tensor]) -> ThumbnailGraph:
        width, height, mpp, bpp = tensors["meta"].tolist()
        windows = SlideWindows.from_tensors(
            {k[8:]: v for k, v in tensors.items() if k.startswith("windows.")}
        )
        return cls(
            slide_id,
            tensors["x"],
            tensors["edge_index"],
            windows,
            (int(width), int(height)),
            float(mpp),
            float(bpp),
            tensors["mask"].numpy().astype(bool),
        )


# Node positions are left out of what the global branch sees: with them, a few dozen training slides are
# enough to memorise which focus of each slide holds the lesion, and focus fails on new slides (measured on
# the look-alike cohort: held-out focus AUC 0.43 with positions, 0.84 without). Adjacency stays in the edges.
POSITION_FEATURES = ("x", "y")
# Longest side of SEW's thumbnail in pixels. Slides up to 8.2 mm across (32768 px at 0.25 um/px) get the
# settings' 8 um/px thumbnail; larger ones a coarser one, read from the pyramid level nearest it, so that
# reading, tissue detection, SLIC and their memory do not grow with the slide (a 65536 px slide at
# 0.25 um/px: 16 um/px, 1024^2 pixels of its level 3, instead of 4096^2 of level 2).
THUMBNAIL_MAX_SIDE = 1024


def thumbnail_mpp(slide: Slide, reading: SEWReading) -> float:
    """``reading.thumbnail_mpp``, or coarser where the thumbnail would be over THUMBNAIL_MAX_SIDE pixels."""
    return max(reading.thumbnail_mpp, max(slide.dimensions) * slide.mpp / THUMBNAIL_MAX_SIDE)


def build_thumbnail_graph(slide: Slide, reading: SEWReading, keep_pixels: bool = False) -> ThumbnailGraph:
    """Thumbnail at :func:`thumbnail_mpp` -> tissue -> SLIC graph -> candidate windows (NoTissueError on
    blank slides, or slides without a tissue tile)."""
    mpp = thumbnail_mpp(slide, reading)
    graph, thumbnail, tissue = graph_from_slide(
        slide,
        mpp=mpp,
        n_segments=reading.n_superpixels,
        compactness=reading.superpixel_compactness,
    )
    # NOTE: tiles are kept by the baseline's 8 um/px mask, except where the slide is too large for one: a
    # coarser mask moves only tiles on the tissue border in or out of the candidates
    coarsened = mpp > reading.thumbnail_mpp and mpp > TISSUE_MPP
    tiles_tissue = (
        tissue
        if coarsened or np.isclose(tissue.mpp, TISSUE_MPP)
        else slide_tissue(slide, TissueConfig(TISSUE_MPP))
    )
    labels_tissue = TissueMask(tissue.mask, tissue.mpp, tissue.base_per_pixel, slide.slide_id)
    windows = slide_windows(
        tiles_tissue,
        graph.labels,
        labels_tissue.base_per_pixel,
        slide.dimensions,
        slide.mpp,
        reading.tiles,
        reading.window_tiles,
    )
    keep = [i for i, name in enumerate(graph.feature_names) if name not in POSITION_FEATURES]
    return ThumbnailGraph(
        slide.slide_id,
        graph.data.x[:, keep].contiguous(),
        graph.data.edge_index,
        windows,
        tuple(slide.dimensions),
        slide.mpp,
        tissue.base_per_pixel,
        tissue.mask,
        graph.labels if keep_pixels else None,
        thumbnail if keep_pixels else None,
    )


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
