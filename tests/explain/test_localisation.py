"""Localisation scores against hand computations."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pathfocus.errors import InputError
from pathfocus.explain.localisation import energy_share, fit_mask, mask_fraction, pointing_hit, score_maps


def test_energy_share_matches_a_hand_computation():
    heat = np.array([[0.0, 0.5, 1.0],
                     [0.25, 0.25, 0.0],
                     [0.0, 0.0, 1.0]], dtype=np.float32)
    mask = np.array([[0, 1, 1],
                     [0, 0, 0],
                     [0, 0, 0]], dtype=bool)
    # inside: 0.5 + 1.0 = 1.5; total: 0.5 + 1 + 0.25 + 0.25 + 1 = 3.0
    assert energy_share(heat, mask) == pytest.approx(0.5)
    assert energy_share(heat, ~mask) == pytest.approx(0.5)
    assert math.isnan(energy_share(np.zeros((3, 3)), mask))


def test_a_uniform_map_scores_the_mask_area():
    mask = np.zeros((10, 10), dtype=bool)
    mask[2:5, 3:7] = True
    assert energy_share(np.ones((10, 10)), mask) == pytest.approx(12 / 100)
    assert mask_fraction(mask, (10, 10)) == pytest.approx(0.12)


def test_mask_is_resized_to_the_heatmap_grid():
    mask = np.zeros((8, 8), dtype=np.uint8)
    mask[:4, :4] = 255
    small = fit_mask(mask, (2, 2))
    np.testing.assert_array_equal(small, [[True, False], [False, False]])
    heat = np.array([[3.0, 1.0], [0.0, 0.0]])
    assert energy_share(heat, mask) == pytest.approx(0.75)
    assert fit_mask(np.stack([mask] * 3, axis=2), (8, 8)).sum() == 16
    with pytest.raises(InputError):
        fit_mask(np.zeros(5), (2, 2))


def test_pointing_game_hit_miss_tolerance_and_ties():
    heat = np.zeros((9, 9))
    heat[4, 6] = 1.0
    mask = np.zeros((9, 9), dtype=bool)
    mask[4, 4] = True
    assert not pointing_hit(heat, mask)
    assert not pointing_hit(heat, mask, tolerance=1)
    assert pointing_hit(heat, mask, tolerance=2)
    mask[4, 6] = True
    assert pointing_hit(heat, mask)
    assert not pointing_hit(np.ones((9, 9)), mask)  # a flat map cannot point


def test_score_maps_averages_only_defined_images():
    mask = np.zeros((4, 4), dtype=bool)
    mask[0, :] = True
    heat_good = np.zeros((4, 4))
    heat_good[0, 1] = 1.0  # all energy inside, peak inside
    heat_half = np.ones((4, 4))  # share = 4/16
    scores = score_maps([heat_good, heat_half, np.zeros((4, 4)), heat_good],
                        [mask, mask, mask, np.zeros((4, 4), dtype=bool)])
    assert scores["n_images"] == 2 and scores["n_skipped"] == 2
    assert scores["energy_share_mean"] == pytest.approx((1.0 + 0.25) / 2)
    assert scores["energy_share_std"] == pytest.approx(0.375)
    assert scores["pointing_game"] == pytest.approx(0.5)
    assert scores["mask_fraction_mean"] == pytest.approx(0.25)
    assert scores["per_image"][2]["energy_share"] is None
    with pytest.raises(InputError, match="one mask per image"):
        score_maps([heat_good], [])


def test_compare_models_ranks_the_trained_model_first(trained_blobnet, untrained_blobnet, blobs):
    import torch

    from pathfocus.explain.localisation import compare_models

    images, masks = blobs(12, np.random.default_rng(5), with_red=True)
    summary = compare_models({"untrained": untrained_blobnet, "trained": trained_blobnet},
                             torch.from_numpy(images), list(masks), target_class=1)
    assert summary["best"] == "trained"
    assert set(summary["models"]) == {"untrained", "trained"}
    trained = summary["models"]["trained"]
    assert trained["n_images"] == 12 and "per_image" not in trained
