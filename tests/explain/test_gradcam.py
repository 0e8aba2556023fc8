"""Grad-CAM through the grad-cam package: shapes, ranges, targets, and that the map finds what decides."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pathfocus.errors import InputError
from pathfocus.explain.gradcam import explain_images, overlay, preprocess, resize_map
from pathfocus.explain.localisation import score_maps

SIZE = 32  # tests/explain/conftest.py draws 32-pixel images


def test_cam_follows_the_planted_blob_not_the_distractor(trained_blobnet, blobs):
    assert blobs.size == SIZE
    images, masks = blobs(24, np.random.default_rng(123), with_red=True)
    explanations = explain_images(trained_blobnet, torch.from_numpy(images), target_class=1)
    assert sum(e.predicted == 1 for e in explanations) >= 22  # the model did learn the task
    scores = score_maps([e.heatmap for e in explanations], list(masks))
    # the red square covers 36 / 1024 = 3.5 % of the image; a map that ignores it would score about that
    assert scores["mask_fraction_mean"] == pytest.approx(36 / SIZE**2)
    assert scores["energy_share_mean"] > 6 * scores["mask_fraction_mean"]
    assert scores["pointing_game"] >= 0.9


def test_heatmaps_shape_range_and_probabilities(trained_blobnet, blobs):
    images, _ = blobs(5, np.random.default_rng(1), with_red=True)
    batch = torch.from_numpy(images)
    explanations = explain_images(trained_blobnet, batch, batch_size=2)
    with torch.no_grad():
        expected = torch.softmax(trained_blobnet(batch), dim=1).numpy()
    assert len(explanations) == 5
    for explanation, probs in zip(explanations, expected, strict=True):
        assert explanation.heatmap.shape == (SIZE, SIZE)
        assert explanation.heatmap.dtype == np.float32
        assert 0.0 <= explanation.heatmap.min() and explanation.heatmap.max() <= 1.0
        np.testing.assert_allclose(explanation.probabilities, probs, atol=1e-5)
        assert explanation.predicted == int(probs.argmax())


def test_explaining_the_other_class_moves_the_map(trained_blobnet, blobs):
    images, masks = blobs(8, np.random.default_rng(7), with_red=True)
    batch = torch.from_numpy(images)
    red = score_maps([e.heatmap for e in explain_images(trained_blobnet, batch, target_class=1)], list(masks))
    other = score_maps([e.heatmap for e in explain_images(trained_blobnet, batch, target_class=[0] * 8)],
                       list(masks))
    assert red["energy_share_mean"] > other["energy_share_mean"]


@pytest.mark.parametrize("name", ["baseline", "kfde"])
def test_registry_models_explain_with_their_declared_layer(name):
    from pathfocus.models.kfde import create_model

    torch.manual_seed(0)
    model = create_model(name, num_classes=3)
    batch = torch.randn(2, 3, 64, 64)
    for method in ("gradcam", "gradcam++"):
        explanations = explain_images(model, batch, target_class=2, method=method)
        assert [e.heatmap.shape for e in explanations] == [(64, 64)] * 2
        assert all(0.0 <= e.heatmap.min() and e.heatmap.max() <= 1.0 for e in explanations)
        assert all(abs(float(e.probabilities.sum()) - 1.0) < 1e-5 for e in explanations)


def test_bad_requests_are_input_errors(trained_blobnet, blobs):
    batch = torch.zeros(2, 3, SIZE, SIZE)
    with pytest.raises(InputError, match="out of range"):
        explain_images(trained_blobnet, batch, target_class=5)
    with pytest.raises(InputError, match="unknown Grad-CAM method"):
        explain_images(trained_blobnet, batch, method="magic")
    with pytest.raises(InputError, match="one per image"):
        explain_images(trained_blobnet, batch, target_class=[0, 1, 1])
    with pytest.raises(InputError, match="gradcam_target_layers"):
        explain_images(torch.nn.Sequential(torch.nn.Conv2d(3, 2, 1)), batch)


def test_overlay_blends_the_colour_map_over_the_image():
    from matplotlib import colormaps

    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=(40, 60, 3), dtype=np.uint8)
    heat = np.zeros((10, 15), dtype=np.float32)
    heat[5:, :] = 1.0
    blended = overlay(image, heat, alpha=0.5)
    assert blended.shape == (40, 60, 3) and blended.dtype == np.uint8
    hot = np.array(colormaps["jet"](1.0)[:3]) * 255
    np.testing.assert_allclose(blended[-1, -1], np.rint(0.5 * image[-1, -1] + 0.5 * hot), atol=1)
    np.testing.assert_array_equal(overlay(image, heat, alpha=0.0), image)
    with pytest.raises(InputError):
        overlay(image[..., 0], heat)


def test_preprocess_normalises_like_evaluation():
    image = np.full((10, 20, 3), 255, dtype=np.uint8)
    batch = preprocess([image, image], 16, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    assert batch.shape == (2, 3, 16, 16)
    torch.testing.assert_close(batch, torch.full_like(batch, 2.0))  # (1 - 0.5) / 0.25
    assert resize_map(np.ones((4, 4), np.float32), (8, 6)).shape == (8, 6)
