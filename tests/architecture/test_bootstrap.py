"""The bootstrap interval of a mean AUC: centred where it should be, and wider when there is less data."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from pathfocus.metrics import bootstrap_mean_auc


def test_mean_is_the_mean_of_the_seeds_and_the_interval_contains_it() -> None:
    rng = np.random.default_rng(0)
    y = np.array([0] * 20 + [1] * 20)
    seeds = [y * 0.6 + rng.normal(0, 0.4, 40) for _ in range(3)]
    mean, low, high = bootstrap_mean_auc(y, seeds, repeats=500)
    assert mean == pytest.approx(np.mean([roc_auc_score(y, s) for s in seeds]))
    assert low < mean < high and 0 < high - low < 0.3


def test_fewer_slides_give_a_wider_interval() -> None:
    rng = np.random.default_rng(1)
    y_big = np.array([0, 1] * 50)
    y_small = y_big[:12]
    big = [y_big * 0.5 + rng.normal(0, 0.5, len(y_big))]
    small = [big[0][:12]]
    _, low_big, high_big = bootstrap_mean_auc(y_big, big, repeats=500)
    _, low_small, high_small = bootstrap_mean_auc(y_small, small, repeats=500)
    assert high_small - low_small > high_big - low_big


def test_a_perfect_ranking_has_a_degenerate_interval() -> None:
    y = np.array([0, 0, 0, 1, 1, 1])
    assert bootstrap_mean_auc(y, [y.astype(float)], repeats=200) == (1.0, 1.0, 1.0)


def test_rank_auc_agrees_with_sklearn_ties_included() -> None:
    from pathfocus.metrics import _rank_auc

    rng = np.random.default_rng(2)
    scores = rng.integers(0, 4, size=(5, 11)).astype(float)  # many ties
    y = np.array([0] * 6 + [1] * 5)
    expected = [roc_auc_score(y, row) for row in scores]
    np.testing.assert_allclose(_rank_auc(scores, 6), expected)
