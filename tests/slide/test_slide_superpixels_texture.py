"""Texture node features (stains, gradient, entropy) against independent per-segment computations.

The implementation uses lookup tables, integer histograms and centred sums for speed; these tests recompute
every texture feature per segment the plain way (skimage's ``rgb2hed``, numpy's std and gradient, a
histogram) so a faster path that drifts beyond float rounding fails here.
"""

from __future__ import annotations

import numpy as np
import pytest
from skimage import data
from skimage.color import rgb2hed

from pathfocus.slide.superpixels import TEXTURE_FEATURES, superpixel_graph


@pytest.fixture(scope="module")
def graph_and_image() -> tuple[object, np.ndarray]:
    image = data.immunohistochemistry()
    mask = image.mean(axis=2) < 200
    return superpixel_graph(image, mask, n_segments=60, texture=True, slic_max_side=128), image


def _texture(graph: object) -> dict[str, np.ndarray]:
    x = graph.data.x.numpy()
    return {name: x[:, graph.feature_names.index(name)] for name in TEXTURE_FEATURES}


def test_stain_statistics_match_rgb2hed(graph_and_image: tuple[object, np.ndarray]) -> None:
    graph, image = graph_and_image
    hed = rgb2hed(image)
    texture = _texture(graph)
    for node in range(graph.num_nodes):
        region = graph.labels == node + 1
        for channel, stain in ((0, "hema"), (1, "eosin")):
            values = hed[..., channel][region]
            assert texture[f"{stain}_mean"][node] == pytest.approx(values.mean(), abs=1e-6)
            assert texture[f"{stain}_std"][node] == pytest.approx(values.std(), abs=1e-6)


def test_gradient_and_entropy_match_plain_computations(graph_and_image: tuple[object, np.ndarray]) -> None:
    graph, image = graph_and_image
    grey = image.astype(np.float64).mean(axis=2) / 255.0
    grad_y, grad_x = np.gradient(grey)
    magnitude = np.hypot(grad_x, grad_y)
    texture = _texture(graph)
    for node in range(graph.num_nodes):
        region = graph.labels == node + 1
        assert texture["grad_mean"][node] == pytest.approx(magnitude[region].mean(), abs=1e-5)
        assert texture["grad_std"][node] == pytest.approx(magnitude[region].std(), abs=1e-5)
        counts, _ = np.histogram(grey[region], bins=16, range=(0.0, 1.0))
        prob = counts[counts > 0] / region.sum()
        assert texture["entropy"][node] == pytest.approx(-(prob * np.log2(prob)).sum() / 4.0, abs=1e-5)


def test_strided_graph_measures_every_second_pixel_of_the_full_image() -> None:
    """feature_stride=2: labels on the grid of even rows and columns; statistics are those of its pixels."""
    image = data.immunohistochemistry()
    mask = image.mean(axis=2) < 200
    graph = superpixel_graph(image, mask, n_segments=60, texture=True, slic_max_side=128, feature_stride=2)
    assert graph.labels.shape == (256, 256) and graph.stride == 2
    assert (graph.labels[~mask[::2, ::2]] == 0).all()
    sample = image[::2, ::2]
    hed = rgb2hed(sample)
    grey = image.astype(np.float64).mean(axis=2) / 255.0
    grad_y, grad_x = np.gradient(grey)
    magnitude = np.hypot(grad_x, grad_y)[::2, ::2]  # the gradient is still taken at full resolution
    x = graph.data.x.numpy()
    texture = _texture(graph)
    for node in range(graph.num_nodes):
        region = graph.labels == node + 1
        rows, cols = np.nonzero(region)
        assert x[node, 0:3] == pytest.approx(sample[region].mean(axis=0) / 255, abs=1e-5)
        assert x[node, 6:8] == pytest.approx([(2 * cols.mean() + 0.5) / 512, (2 * rows.mean() + 0.5) / 512],
                                             abs=1e-5)
        assert x[node, 8] == pytest.approx(region.sum() / 256**2, abs=1e-6)
        assert graph.areas[node] == 4 * region.sum()
        assert texture["hema_mean"][node] == pytest.approx(hed[..., 0][region].mean(), abs=1e-6)
        assert texture["grad_std"][node] == pytest.approx(magnitude[region].std(), abs=1e-5)
