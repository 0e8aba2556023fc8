"""Focus regions always lie on tissue: anchors inside their own superpixel, windows inside the slide."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from pathfocus.engines.sew.graphs import (
    anchor_pixels,
    build_thumbnail_graph,
    read_detail_graph,
    region_window,
)
from pathfocus.engines.sew.reading import SEWReading
from pathfocus.slide.reader import open_slide


def test_anchor_of_a_c_shaped_superpixel_is_inside_it() -> None:
    labels = np.zeros((20, 20), np.int32)
    labels[2:18, 2:5] = 1  # a "C": its centroid lies in the empty middle
    labels[2:5, 2:15] = 1
    labels[15:18, 2:15] = 1
    labels[8:12, 10:14] = 2
    anchors = anchor_pixels(labels).astype(int)
    for node, (col, row) in enumerate(anchors, start=1):
        assert labels[row, col] == node
    rows, cols = np.nonzero(labels == 1)
    assert labels[int(rows.mean()), int(cols.mean())] == 0  # the centroid itself is off the superpixel


def _nearest_pixel_by_sorting(labels: np.ndarray) -> np.ndarray:
    """Reference: sort pixels by (node, distance to its centroid, raster index); each node's first."""
    flat = labels.ravel()
    n = int(flat.max())
    index = np.flatnonzero(flat)
    rows, cols = np.divmod(index, labels.shape[1])
    owner = flat[index] - 1
    count = np.bincount(owner, minlength=n)
    cy = np.bincount(owner, rows, minlength=n) / count
    cx = np.bincount(owner, cols, minlength=n) / count
    distance = (rows - cy[owner]) ** 2 + (cols - cx[owner]) ** 2
    order = np.lexsort((index, distance, owner))
    first = order[np.searchsorted(owner[order], np.arange(n))]
    return np.stack([cols[first], rows[first]], axis=1).astype(float)


def test_anchors_are_the_nearest_own_pixel_with_raster_order_breaking_ties() -> None:
    """Blocky labels (as upsampled SLIC gives) put centroids on pixel-edge halves, where ties happen."""
    rng = np.random.default_rng(0)
    for _ in range(40):
        blocks = np.kron(rng.integers(0, 5, (6, 7)), np.ones((4, 4), int))
        _, labels = np.unique(blocks, return_inverse=True)
        labels = labels.reshape(blocks.shape) + (0 if (blocks == 0).any() else 1)
        np.testing.assert_array_equal(anchor_pixels(labels), _nearest_pixel_by_sorting(labels))


def test_every_candidate_window_is_on_tissue_and_inside_the_slide(cohort: Path) -> None:
    config = SEWReading(n_superpixels=48, detail_window=256, detail_superpixels=16)
    path = next((cohort / "slides").glob("*.tiff"))
    with open_slide(path) as slide:
        graph = build_thumbnail_graph(slide, config, keep_pixels=True)
        width, height = slide.dimensions
        truth = np.asarray(Image.open(cohort / "masks" / f"{path.stem}_tissue.png")) > 0
        assert graph.x.shape[0] == graph.labels.max() > 10
        for node, anchor in enumerate(graph.anchors):
            col, row = (anchor / graph.base_per_pixel).astype(int)
            assert graph.labels[row, col] == node + 1 and graph.mask[row, col]
            region = region_window(anchor, graph, config)
            assert 0 <= region.x and region.x + region.w <= width
            assert 0 <= region.y and region.y + region.h <= height
            assert region.x <= anchor[0] <= region.x + region.w
            assert region.y <= anchor[1] <= region.y + region.h
            # the ground-truth tissue mask (16 level-0 px per pixel) has tissue inside the window
            rows = slice(region.y // 16, (region.y + region.h) // 16)
            window_truth = truth[rows, region.x // 16:(region.x + region.w) // 16]
            assert window_truth.mean() > 0.05
        detail = read_detail_graph(slide, graph, region_window(graph.anchors[0], graph, config), config)
    assert detail.pixels_read == 256 * 256
    assert detail.x.shape[1] == 16 and detail.x.shape[0] >= 1
    assert torch.isfinite(detail.x).all()


def test_windows_near_the_border_are_clamped(cohort: Path) -> None:
    config = SEWReading(n_superpixels=48, detail_window=512)
    path = next((cohort / "slides").glob("*.tiff"))
    with open_slide(path) as slide:
        graph = build_thumbnail_graph(slide, config)
    corner = region_window(np.array([3.0, 5.0]), graph, config)
    assert (corner.x, corner.y) == (0, 0)
    far = region_window(np.array(graph.slide_size, dtype=float), graph, config)
    assert far.x + far.w == graph.slide_size[0] and far.y + far.h == graph.slide_size[1]
