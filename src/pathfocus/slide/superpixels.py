"""SLIC superpixels over the tissue of an image and their region adjacency graph, ready for a GCN.

Used twice by SEW: on the ~8 um/px thumbnail (global branch) and on a few 512 px windows at 0.5 um/px
(detail branch). SLIC runs on a copy downscaled to at most ``slic_max_side`` pixels, and further while each
superpixel keeps about ``SLIC_SEGMENT_PIXELS`` pixels (its cost grows with the pixel count, and a 6 x 6
superpixel still places its boundaries); labels are scaled back to the *feature grid* and features are
measured on the full-resolution image: on every pixel, or (``feature_stride`` s > 1, the detail windows)
on every s-th row and column, a regular sample of the full-resolution pixels that also carries the
labels and the adjacency, with the gradient still taken at full resolution. Only tissue superpixels
become nodes (label 0 = no tissue).
Per-segment statistics: RGB mean and std come exact from integer (segment, value) histograms (no float
pass over the pixels); stain and gradient statistics from weighted ``np.bincount`` (sums, then squares of
values centred on their segment's mean). Stain deconvolution is a 256-entry table per channel, index
arrays are converted once and shared, so a 512^2 window costs a few tens of milliseconds with SLIC.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
import torch
from skimage.color import hed_from_rgb
from skimage.segmentation import slic
from torch_geometric.data import Data

from pathfocus.errors import InputError, NoTissueError

if TYPE_CHECKING:
    from pathfocus.slide.reader import Slide
    from pathfocus.slide.tissue import TissueConfig, TissueMask

BASE_FEATURES = ("mean_r", "mean_g", "mean_b", "std_r", "std_g", "std_b", "x", "y", "area")
TEXTURE_FEATURES = ("hema_mean", "hema_std", "eosin_mean", "eosin_std", "grad_mean", "grad_std", "entropy")
ENTROPY_BINS = 16
STAIN_FLOOR = 1e-6  # skimage.color.rgb2hed's floor before the log (Beer-Lambert optical density)
SLIC_SEGMENT_PIXELS = 36  # SLIC copies are made no finer than this many pixels per superpixel


@dataclass
class SuperpixelGraph:
    """Superpixel labels of an image and the graph over its tissue superpixels."""

    labels: np.ndarray  # (ceil(H/s), ceil(W/s)) int32, image pixel (s*row, s*col); 0 = none, i + 1 = node i
    data: Data  # x (N, F) float32, edge_index (2, E) int64 both directions, pos (N, 2) in [0, 1]
    base_centroids: np.ndarray  # (N, 2) float64 level-0 (x, y)
    areas: np.ndarray  # (N,) int64 pixels of the input image (counted on the feature grid, times s^2)
    feature_names: tuple[str, ...]
    stride: int = 1  # s: the feature grid takes every s-th row and column of the image

    @property
    def num_nodes(self) -> int:
        return int(self.data.num_nodes)


def superpixel_graph(
    image_rgb: np.ndarray,
    tissue_mask: np.ndarray | None = None,
    n_segments: int = 200,
    compactness: float = 10.0,
    base_origin: tuple[float, float] = (0, 0),
    base_per_pixel: float = 1.0,
    texture: bool = False,
    slic_max_side: int = 256,
    feature_stride: int = 1,
) -> SuperpixelGraph:
    """Superpixel graph of an HxWx3 uint8 image; pixel (col, row) sits at level-0 origin + (col, row) * scale.

    ``tissue_mask`` (HxW bool) limits nodes to tissue; None means the whole image is tissue.
    ``feature_stride`` s builds labels, statistics, centroids and adjacency on every s-th row and column
    (s^2 times fewer pixels): the detail windows' cost driver after SLIC.
    """
    if image_rgb.ndim != 3 or image_rgb.shape[2] != 3:
        msg = f"expected an HxWx3 RGB image, got shape {image_rgb.shape}"
        raise InputError(msg)
    height, width = image_rgb.shape[:2]
    mask = np.ones((height, width), bool) if tissue_mask is None else np.asarray(tissue_mask, bool)
    if mask.shape != (height, width):
        msg = f"tissue mask shape {mask.shape} differs from the image's {(height, width)}"
        raise InputError(msg)
    if not mask.any():
        msg = "no tissue in this image region, so it has no superpixel graph; pick a region with tissue"
        raise NoTissueError(msg)
    if feature_stride < 1:
        msg = f"feature_stride must be at least 1, got {feature_stride}"
        raise InputError(msg)
    stride = feature_stride
    labels = _slic_labels(image_rgb, mask, n_segments, compactness, slic_max_side, stride)
    n_nodes = int(labels.max())

    flat = labels.ravel().astype(np.intp)  # bincount and take convert any other index type on every call
    counts = np.bincount(flat, minlength=n_nodes + 1)[1:]
    sample = image_rgb[::stride, ::stride]
    channels = [sample[..., c].astype(np.intp).ravel() for c in range(3)]  # read once, reused
    mean_rgb, std_rgb = _segment_rgb_mean_std(flat, channels, n_nodes)
    rows, cols = _pixel_coordinates(*sample.shape[:2])
    cy = np.bincount(flat, rows, minlength=n_nodes + 1)[1:] / counts * stride
    cx = np.bincount(flat, cols, minlength=n_nodes + 1)[1:] / counts * stride
    pos = np.stack([(cx + 0.5) / width, (cy + 0.5) / height], axis=1)
    features = [mean_rgb, std_rgb, pos, (counts / flat.size)[:, None]]
    names = BASE_FEATURES
    if texture:
        gradient = _sampled_gradient(image_rgb, stride)
        features.append(_texture_features(channels, gradient, flat, counts, n_nodes))
        names = BASE_FEATURES + TEXTURE_FEATURES

    data = Data(
        x=torch.from_numpy(np.concatenate(features, axis=1).astype(np.float32)),
        edge_index=torch.from_numpy(region_adjacency(labels)),
        pos=torch.from_numpy(pos.astype(np.float32)),
    )
    data.num_nodes = n_nodes
    base_centroids = np.stack(
        [base_origin[0] + (cx + 0.5) * base_per_pixel, base_origin[1] + (cy + 0.5) * base_per_pixel], axis=1
    )
    return SuperpixelGraph(
        labels=labels,
        data=data,
        base_centroids=base_centroids,
        areas=counts.astype(np.int64) * stride * stride,
        feature_names=names,
        stride=stride,
    )


def _slic_labels(
    image: np.ndarray, mask: np.ndarray, n_segments: int, compactness: float, max_side: int, stride: int = 1
) -> np.ndarray:
    """SLIC on a downscaled copy, labels scaled back to every ``stride``-th pixel, clipped to tissue, 1..N.

    SLIC runs on the whole image with ``n_segments`` scaled up by the tissue share (so the tissue gets
    about ``n_segments``): SLIC's own ``mask=`` mode doubles the cost with a k-means initialisation.
    Fragments of a superpixel cut off by the tissue border under 1/8 of the mean size get no node.
    """
    height, width = mask.shape
    step = max(1, int(np.ceil(max(height, width) / max_side)))
    step = max(step, int(np.sqrt(mask.sum() / max(n_segments, 1) / SLIC_SEGMENT_PIXELS)))
    small_img = image[::step, ::step]
    tissue_share = max(float(mask.mean()), 0.05)
    small = slic(
        small_img,
        n_segments=int(round(n_segments / tissue_share)),
        compactness=compactness,
        start_label=1,
        enforce_connectivity=True,
        channel_axis=-1,
    )
    grid_mask = mask[::stride, ::stride]
    labels = small[np.arange(0, height, stride) // step][:, np.arange(0, width, stride) // step]
    labels = np.where(grid_mask, labels, 0)
    counts = np.bincount(labels.ravel())
    counts[0] = 0
    min_area = max(1, int(grid_mask.sum() / max(n_segments, 1) / 8))
    keep = counts >= min_area
    if not keep.any():
        keep = counts > 0
    lookup = np.zeros(len(counts), np.int32)
    lookup[keep] = np.arange(1, int(keep.sum()) + 1, dtype=np.int32)
    return lookup[labels]


def _segment_rgb_mean_std(flat: np.ndarray, channels: list[np.ndarray],
                          n_nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-segment mean and (population) std of each uint8 channel over 255, from exact integer sums.

    One unweighted bincount of (segment, value) per channel; its sums and sums of squares are integers,
    so the variance ``(n * S2 - S1^2) / n^2`` has no rounding before the final division.
    """
    levels = np.arange(256, dtype=np.int64)
    base = flat * 256
    means, stds = [], []
    for channel in channels:
        hist = np.bincount(base + channel, minlength=(n_nodes + 1) * 256)
        hist = hist.reshape(n_nodes + 1, 256)[1:]
        count = hist.sum(axis=1)
        total = hist @ levels
        square = hist @ (levels * levels)
        means.append(total / count / 255.0)
        stds.append(np.sqrt(np.maximum(count * square - total * total, 0)) / count / 255.0)
    return np.stack(means, axis=1), np.stack(stds, axis=1)


def _segment_mean_std(flat: np.ndarray, columns: list[np.ndarray], counts: np.ndarray,
                      n_nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-segment mean and (population) std of each flat float64 column, segments 1..n_nodes of ``flat``.

    The spread is summed over values centred on their own segment's mean, so no E[x^2] - E[x]^2
    cancellation; columns are contiguous float64 so bincount converts nothing.
    """
    sizes = np.maximum(np.concatenate([[flat.size - counts.sum()], counts]), 1)
    means, stds = [], []
    for column in columns:
        mean = np.bincount(flat, column, minlength=n_nodes + 1) / sizes
        centred = column - mean.take(flat)
        centred *= centred
        means.append(mean[1:])
        stds.append(np.sqrt(np.bincount(flat, centred, minlength=n_nodes + 1)[1:] / sizes[1:]))
    return np.stack(means, axis=1), np.stack(stds, axis=1)


@lru_cache(maxsize=4)
def _pixel_coordinates(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Flat float64 row and column of every pixel (exact sums in bincount), shared by same-sized images."""
    rows, cols = np.indices((height, width), dtype=np.float64)
    rows.flags.writeable = cols.flags.writeable = False
    return rows.ravel(), cols.ravel()


@lru_cache(maxsize=1)
def _stain_lookup() -> np.ndarray:
    """(2 stains, 3 channels, 256) hematoxylin and eosin contribution of each uint8 channel value.

    skimage's ``rgb2hed`` is ``(log(max(rgb / 255, 1e-6)) / log(1e-6)) @ hed_from_rgb`` clipped at 0;
    the log of a uint8 takes 256 values, so it becomes a table and the product three table look-ups.
    """
    density = np.log(np.maximum(np.arange(256) / 255.0, STAIN_FLOOR)) / np.log(STAIN_FLOOR)
    table = np.ascontiguousarray((density[:, None, None] * hed_from_rgb[None, :, :2]).transpose(2, 1, 0))
    table.flags.writeable = False
    return table


def _sampled_gradient(image: np.ndarray, stride: int) -> np.ndarray:
    """Grey-level (RGB mean / 255) gradient magnitude at every ``stride``-th row and column, as float64.

    The values are ``np.gradient``'s at those pixels (central differences of the full-resolution grey,
    one-sided at the borders), computed from only the neighbours the sample needs.
    """
    grey = image[..., 0].astype(np.float32)
    grey += image[..., 1]
    grey += image[..., 2]
    grey *= np.float32(1 / 765)
    height, width = grey.shape
    rows, cols = np.arange(0, height, stride), np.arange(0, width, stride)
    below, above = np.minimum(rows + 1, height - 1), np.maximum(rows - 1, 0)
    right, left = np.minimum(cols + 1, width - 1), np.maximum(cols - 1, 0)
    grad_y = grey[below][:, cols] - grey[above][:, cols]
    grad_y /= np.maximum(below - above, 1).astype(np.float32)[:, None]
    across = grey[rows]
    grad_x = across[:, right] - across[:, left]
    grad_x /= np.maximum(right - left, 1).astype(np.float32)
    return np.hypot(grad_x, grad_y).ravel().astype(np.float64)


def _texture_features(channels: list[np.ndarray], gradient: np.ndarray, flat: np.ndarray, counts: np.ndarray,
                      n_nodes: int) -> np.ndarray:
    """Stain (hematoxylin, eosin) statistics, gradient magnitude and grey-level entropy per segment."""
    table = _stain_lookup()
    columns = []
    for stain in range(2):
        density = table[stain, 0].take(channels[0])
        density += table[stain, 1].take(channels[1])
        density += table[stain, 2].take(channels[2])
        columns.append(np.maximum(density, 0.0, out=density))
    columns.append(gradient)
    mean, std = _segment_mean_std(flat, columns, counts, n_nodes)
    entropy = _segment_entropy(flat, channels[0] + channels[1] + channels[2], counts, n_nodes)
    return np.stack([mean[:, 0], std[:, 0], mean[:, 1], std[:, 1], mean[:, 2], std[:, 2], entropy], axis=1)


@lru_cache(maxsize=1)
def _grey_bins() -> np.ndarray:
    """Entropy bin of each R + G + B sum (0..765): grey = sum / 765 in ``ENTROPY_BINS`` bins over [0, 1]."""
    bins = np.minimum(np.arange(766) * ENTROPY_BINS // 765, ENTROPY_BINS - 1)
    bins.flags.writeable = False
    return bins


def _segment_entropy(flat: np.ndarray, grey_sum: np.ndarray, counts: np.ndarray, n_nodes: int) -> np.ndarray:
    """Normalised entropy of each segment's grey-level histogram (``ENTROPY_BINS`` bins over [0, 1])."""
    bins = _grey_bins().take(grey_sum)
    hist = np.bincount(flat * ENTROPY_BINS + bins, minlength=(n_nodes + 1) * ENTROPY_BINS)
    prob = hist.reshape(n_nodes + 1, ENTROPY_BINS)[1:] / counts[:, None]
    return -(prob * np.log2(np.where(prob > 0, prob, 1.0))).sum(axis=1) / np.log2(ENTROPY_BINS)


def region_adjacency(labels: np.ndarray) -> np.ndarray:
    """(2, E) int64 edges between 4-connected touching segments (labels > 0), both directions, sorted."""
    pairs = []
    for a, b in ((labels[:, :-1], labels[:, 1:]), (labels[:-1, :], labels[1:, :])):
        touching = (a != b) & (a > 0) & (b > 0)
        pairs.append(np.stack([a[touching], b[touching]], axis=1))
    edges = np.concatenate(pairs, axis=0).astype(np.int64) - 1
    if len(edges) == 0:
        return np.zeros((2, 0), np.int64)
    n_nodes = int(labels.max())
    keys = np.unique(
        np.concatenate([edges[:, 0] * n_nodes + edges[:, 1], edges[:, 1] * n_nodes + edges[:, 0]])
    )
    return np.stack([keys // n_nodes, keys % n_nodes]).astype(np.int64)


def graph_from_slide(
    slide: Slide,
    mpp: float = 8.0,
    tissue_config: TissueConfig | None = None,
    n_segments: int = 200,
    compactness: float = 10.0,
    texture: bool = False,
) -> tuple[SuperpixelGraph, np.ndarray, TissueMask]:
    """The global-branch graph of a slide: thumbnail at ``mpp``, its tissue mask and their superpixels."""
    from skimage.transform import resize

    from pathfocus.slide.tissue import TissueConfig, slide_tissue, tissue_from_thumbnail

    config = tissue_config or TissueConfig(thumbnail_mpp=mpp)
    thumbnail = slide.thumbnail(mpp)
    if np.isclose(config.thumbnail_mpp, mpp):
        tissue = tissue_from_thumbnail(slide, thumbnail, config)
        mask = tissue.mask
    else:
        tissue = slide_tissue(slide, config)
        mask = (
            resize(tissue.mask, thumbnail.shape[:2], order=0, anti_aliasing=False, preserve_range=True) > 0.5
        )
    graph = superpixel_graph(
        thumbnail,
        mask,
        n_segments=n_segments,
        compactness=compactness,
        base_per_pixel=mpp / slide.mpp,
        texture=texture,
    )
    return graph, thumbnail, tissue
