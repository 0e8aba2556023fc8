"""Superpixel graphs: shapes, symmetric region adjacency (checked against scikit-image's RAG), features."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from skimage import data
from skimage.graph import RAG

from pathfocus.errors import NoTissueError
from pathfocus.slide.reader import open_slide
from pathfocus.slide.superpixels import BASE_FEATURES, TEXTURE_FEATURES, graph_from_slide, superpixel_graph


@pytest.fixture(scope="module")
def ihc() -> tuple[np.ndarray, np.ndarray]:
    """A real 512 x 512 IHC image with its darker (tissue-like) part as the mask."""
    image = data.immunohistochemistry()
    return image, image.mean(axis=2) < 200


def test_only_tissue_superpixels_become_nodes(ihc: tuple[np.ndarray, np.ndarray]) -> None:
    image, mask = ihc
    graph = superpixel_graph(image, mask, n_segments=150)
    n = graph.num_nodes
    assert graph.labels.shape == mask.shape
    assert (graph.labels[~mask] == 0).all()
    assert set(np.unique(graph.labels)) == set(range(n + 1))
    assert 75 <= n <= 300
    assert graph.data.x.shape == (n, len(BASE_FEATURES)) and graph.data.pos.shape == (n, 2)
    assert graph.areas.sum() == (graph.labels > 0).sum()
    assert graph.areas.sum() >= 0.95 * mask.sum()  # fragments left out are few


def test_edges_are_the_region_adjacency_in_both_directions(ihc: tuple[np.ndarray, np.ndarray]) -> None:
    image, mask = ihc
    graph = superpixel_graph(image[:200, :200], mask[:200, :200], n_segments=40)
    edges = graph.data.edge_index.numpy()
    pairs = {(int(a), int(b)) for a, b in edges.T}
    assert all((b, a) in pairs for a, b in pairs)
    assert all(a != b for a, b in pairs)
    rag = RAG(graph.labels, connectivity=1)
    expected = {(a - 1, b - 1) for a, b in rag.edges if a > 0 and b > 0}
    expected |= {(b, a) for a, b in expected}
    assert pairs == expected


def test_node_features_are_region_statistics(ihc: tuple[np.ndarray, np.ndarray]) -> None:
    image, mask = ihc
    graph = superpixel_graph(image, mask, n_segments=100, base_origin=(1000, 2000), base_per_pixel=4.0)
    x = graph.data.x.numpy()
    for node in (0, graph.num_nodes // 2, graph.num_nodes - 1):
        region = graph.labels == node + 1
        pixels = image[region].astype(np.float64) / 255
        rows, cols = np.nonzero(region)
        assert x[node, 0:3] == pytest.approx(pixels.mean(axis=0), abs=1e-5)
        assert x[node, 3:6] == pytest.approx(pixels.std(axis=0), abs=1e-4)
        assert x[node, 6:8] == pytest.approx([(cols.mean() + 0.5) / 512, (rows.mean() + 0.5) / 512], abs=1e-5)
        assert x[node, 8] == pytest.approx(region.sum() / 512**2, abs=1e-6)
        centre = graph.base_centroids[node]
        assert centre == pytest.approx([1000 + 4 * (cols.mean() + 0.5), 2000 + 4 * (rows.mean() + 0.5)])


def test_texture_features_and_names(ihc: tuple[np.ndarray, np.ndarray]) -> None:
    image, mask = ihc
    graph = superpixel_graph(image, mask, n_segments=100, texture=True)
    assert graph.feature_names == BASE_FEATURES + TEXTURE_FEATURES
    x = graph.data.x.numpy()
    assert x.shape[1] == len(graph.feature_names) and np.isfinite(x).all()
    entropy = x[:, graph.feature_names.index("entropy")]
    assert ((entropy >= 0) & (entropy <= 1)).all()


def test_no_tissue_region_is_refused(ihc: tuple[np.ndarray, np.ndarray]) -> None:
    image, _ = ihc
    with pytest.raises(NoTissueError, match="no tissue"):
        superpixel_graph(image, np.zeros(image.shape[:2], bool))


def test_graph_from_slide_covers_the_tissue(slide_path: Path) -> None:
    with open_slide(slide_path) as slide:
        graph, thumbnail, tissue = graph_from_slide(slide, mpp=8.0, n_segments=60)
    assert thumbnail.shape == (128, 128, 3) and tissue.mask.shape == (128, 128)
    assert (graph.labels[~tissue.mask] == 0).all()
    assert graph.num_nodes >= 20
    assert (graph.base_centroids >= 0).all() and (graph.base_centroids <= 2048).all()
