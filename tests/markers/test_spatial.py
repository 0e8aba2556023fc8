"""Spatial statistics against brute-force distance computations."""

from __future__ import annotations

import numpy as np
import pytest

from pathfocus.markers.features import RegionFeatures
from pathfocus.markers.spatial import cohort_summary, slide_statistics, spatial_table


def _brute(centres, labels, focus, diagonal, cluster):
    """The documented definitions, written with full pairwise distance matrices."""
    members = np.flatnonzero(labels == cluster)
    points = centres[members]
    distance = np.linalg.norm(centres[:, None, :] - centres[None, :, :], axis=2)
    high = focus >= np.quantile(focus, 0.75)
    dispersion = np.sqrt(np.mean(np.sum((points - points.mean(0)) ** 2, axis=1)))
    within = distance[np.ix_(members, members)] + np.diag(np.full(len(members), np.inf))
    nn = within.min(axis=1).mean() if len(members) > 1 else np.nan
    to_focus = []
    for i in members:
        others = [j for j in np.flatnonzero(high) if j != i]
        to_focus.append(min(distance[i, others]) if others else np.nan)
    to_focus = np.array(to_focus)
    colocation = np.mean(to_focus <= diagonal[members])
    return dispersion, nn, np.mean(to_focus), colocation


def test_statistics_match_brute_force():
    rng = np.random.default_rng(3)
    n = 40
    centres = rng.uniform(0, 5000, (n, 2))
    labels = rng.integers(0, 3, n)
    focus = rng.random(n)
    diagonal = np.full(n, 900.0)
    stats = slide_statistics(centres, labels, focus, diagonal, k=4)
    for cluster in range(3):
        expected = _brute(centres, labels, focus, diagonal, cluster)
        got = [stats[f"p{cluster}_{name}"] for name in ("dispersion", "nn_distance", "focus_distance",
                                                         "colocation")]
        np.testing.assert_allclose(got, expected, rtol=1e-9)
    assert all(np.isnan(stats[f"p3_{name}"]) for name in ("dispersion", "nn_distance", "colocation"))


def test_single_member_has_no_nearest_neighbour_and_compact_group_is_small():
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [5000.0, 5000.0]])
    labels = np.array([0, 0, 0, 1])
    focus = np.array([0.1, 0.2, 0.3, 0.9])
    stats = slide_statistics(centres, labels, focus, np.full(4, 100.0), k=2)
    assert np.isnan(stats["p1_nn_distance"])
    assert stats["p1_dispersion"] == 0.0
    assert stats["p0_nn_distance"] == pytest.approx((10 + 10 + 10) / 3)
    # p0 regions are far from the only high-focus region (the p1 one): never co-located
    assert stats["p0_colocation"] == 0.0
    expected = np.mean(np.linalg.norm(centres[:3] - centres[3], axis=1))
    assert stats["p0_focus_distance"] == pytest.approx(expected)


def test_table_per_slide_uses_box_centres():
    boxes = np.array([[0, 0, 100, 100], [300, 0, 100, 100], [0, 0, 50, 50], [0, 400, 50, 50]])
    regions = RegionFeatures(["a", "a", "b", "b"], boxes, [0.5, 0.9, 0.1, 0.2], np.zeros(4), np.zeros((4, 2)))
    table = spatial_table(regions, np.array([0, 0, 0, 1]), k=2, order=["a", "b", "c"])
    assert table.loc["a", "p0_nn_distance"] == pytest.approx(300.0)
    assert table.loc["a", "p0_dispersion"] == pytest.approx(150.0)
    assert np.isnan(table.loc["c"]).all()
    summary = cohort_summary(table, 2)
    assert summary["p0"]["mean_dispersion"] == pytest.approx(150.0 / 2)
    assert summary["p0"]["n_slides_dispersion"] == 2
