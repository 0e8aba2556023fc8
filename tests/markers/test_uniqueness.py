"""Uniqueness statistics against independent formulas."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pathfocus.markers.prototypes import fit_prototypes
from pathfocus.markers.uniqueness import (
    bh_adjust,
    mann_whitney,
    separability,
    survival_groups,
    univariate_cox,
)


def test_bh_matches_the_step_up_formula():
    p = np.array([0.01, 0.04, 0.03, 0.20, np.nan, 0.005])
    finite = p[np.isfinite(p)]
    m = len(finite)
    order = np.argsort(finite)
    ranked = finite[order] * m / np.arange(1, m + 1)
    adjusted = np.minimum.accumulate(ranked[::-1])[::-1]
    expected = np.empty(m)
    expected[order] = np.minimum(adjusted, 1.0)
    q = bh_adjust(p)
    assert np.isnan(q[4])
    np.testing.assert_allclose(q[np.isfinite(p)], expected)


def test_separability_is_the_mean_silhouette_per_cluster():
    rng = np.random.default_rng(0)
    features = np.concatenate([rng.normal(0, 1, (12, 2)), rng.normal(6, 1, (10, 2)),
                               rng.normal(0, 4, (8, 2))])
    prototypes = fit_prototypes(features, k=3, seed=0)
    x, labels = prototypes.scaled_features, prototypes.labels
    distance = np.linalg.norm(x[:, None] - x[None], axis=2)
    values = []
    for i in range(len(x)):
        own = labels == labels[i]
        a = distance[i, own].sum() / (own.sum() - 1) if own.sum() > 1 else 0.0
        b = min(distance[i, labels == c].mean() for c in set(labels) - {labels[i]})
        values.append(0.0 if own.sum() == 1 else (b - a) / max(a, b))
    values = np.array(values)
    expected = [values[labels == c].mean() for c in range(3)]
    np.testing.assert_allclose(separability(prototypes), expected, rtol=1e-9)


def test_mann_whitney_effect_is_the_rank_biserial_by_pair_counting():
    time = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0])
    event = np.array([1, 1, 0, 1, 1, 0, 1, 1])
    groups = survival_groups(time, event)
    assert groups.tolist() == [1, 1, -1, 1, 0, 0, 0, 0]  # median 4.5; slide 3 censored early: unknown
    x = np.array([0.9, 0.8, 0.1, 0.5, 0.2, 0.6, 0.1, 0.3])
    result = mann_whitney(pd.DataFrame({"p0": x}), time, event)
    short, long_ = x[groups == 1], x[groups == 0]
    wins = sum((s > lo) + 0.5 * (s == lo) for s in short for lo in long_)
    assert result.loc["p0", "effect"] == pytest.approx(2 * wins / (len(short) * len(long_)) - 1)
    assert 0 < result.loc["p0", "p"] < 1


def test_univariate_cox_direction_and_constant_columns():
    rng = np.random.default_rng(1)
    x = rng.random(60)
    time = rng.exponential(1.0 / np.exp(3.0 * x))
    event = np.ones(60, dtype=int)
    table = univariate_cox(pd.DataFrame({"risky": x, "flat": np.full(60, 0.3)}), time, event)
    assert table.loc["risky", "log_hr"] > 0
    assert table.loc["risky", "ci_low"] < table.loc["risky", "log_hr"] < table.loc["risky", "ci_high"]
    assert table.loc["risky", "p"] < 0.01
    assert table.loc["flat"].isna().all()


def test_score_test_with_a_binary_covariate_is_the_logrank_test():
    from lifelines.statistics import logrank_test

    from pathfocus.markers.uniqueness import cox_score_test

    rng = np.random.default_rng(5)
    group = rng.random(40) < 0.5
    time = rng.exponential(1.0 / np.where(group, 2.0, 1.0))  # continuous: no ties
    event = (rng.random(40) < 0.8).astype(int)
    z, p = cox_score_test(group.astype(float), time, event)
    reference = logrank_test(time[group], time[~group], event[group], event[~group])
    assert p == pytest.approx(reference.p_value, rel=1e-6)
    assert z**2 == pytest.approx(reference.test_statistic, rel=1e-6)
    assert z > 0  # the group with the higher hazard has the higher covariate


def test_score_test_handles_tied_times_like_breslow():
    from pathfocus.markers.uniqueness import cox_score_test

    time = np.array([2.0, 2.0, 3.0, 1.0, 3.0, 5.0])
    event = np.array([1, 1, 0, 1, 1, 0])
    x = np.array([0.3, 0.9, 0.1, 0.5, 0.7, 0.2])
    score = information = 0.0
    for i in np.flatnonzero(event):
        at_risk = time >= time[i]
        score += x[i] - x[at_risk].mean()
        information += x[at_risk].var()
    z, _ = cox_score_test(x, time, event)
    assert z == pytest.approx(score / np.sqrt(information))
