"""Survival statistics: held-out honesty of the cross-validation, and numbers against hand formulas."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import chi2

from pathfocus.markers.survival import (
    concordance_counts,
    cross_validate,
    fit_cohort_cox,
    fold_assignments,
    logrank,
    permutation_p,
    split_statistics,
)


def _data(seed: int = 0, n: int = 30) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    proportions = pd.DataFrame(rng.dirichlet(np.ones(4), n), columns=[f"p{i}" for i in range(4)],
                               index=[f"s{i}" for i in range(n)])
    time = rng.exponential(1.0 / np.exp(4.0 * proportions["p1"].to_numpy()))
    event = (rng.random(n) < 0.75).astype(int)
    return proportions, time, event


def _harrell(time, risk, event):
    concordant = comparable = 0.0
    for i in range(len(time)):
        for j in range(len(time)):
            if event[i] and time[i] < time[j]:
                comparable += 1
                concordant += 1.0 if risk[i] > risk[j] else 0.5 if risk[i] == risk[j] else 0.0
    return concordant / comparable


def _logrank_terms(time, event, group):
    """Observed minus expected events of ``group`` and the hypergeometric variance (the textbook sums)."""
    observed_minus_expected = variance = 0.0
    for t in np.unique(time[event == 1]):
        at_risk = time >= t
        n, n1 = at_risk.sum(), (at_risk & group).sum()
        d = ((time == t) & (event == 1)).sum()
        d1 = ((time == t) & (event == 1) & group).sum()
        observed_minus_expected += d1 - d * n1 / n
        if n > 1:
            variance += d * (n1 / n) * (1 - n1 / n) * (n - d) / (n - 1)
    return observed_minus_expected, variance


def _logrank_by_hand(time, event, group):
    observed_minus_expected, variance = _logrank_terms(time, event, group)
    return chi2.sf(observed_minus_expected**2 / variance, 1)


def test_held_out_slides_are_scored_without_their_own_outcomes():
    proportions, time, event = _data()
    assignment = fold_assignments(len(time), 5, seed=0, event=event)
    arrays = (proportions.to_numpy(), np.zeros((len(time), 0)), list(proportions.columns))
    first = split_statistics(*arrays, time, event, assignment)
    held_out = assignment == 0
    changed_time, changed_event = time.copy(), event.copy()
    changed_time[held_out] = changed_time[held_out][::-1] * 7.0
    changed_event[held_out] = 1 - changed_event[held_out]
    second = split_statistics(*arrays, changed_time, changed_event, assignment)
    np.testing.assert_allclose(second.risk[held_out], first.risk[held_out])
    np.testing.assert_array_equal(second.high_risk[held_out], first.high_risk[held_out])
    assert second.thresholds[0] == first.thresholds[0]
    # cross_validate stratifies by event, so its folds follow the events but never the times
    again = cross_validate(proportions, np.where(held_out, changed_time, time), event, folds=5, seed=0)
    np.testing.assert_array_equal(again.fold, cross_validate(proportions, time, event, folds=5, seed=0).fold)


def test_reported_figures_are_computed_from_the_out_of_fold_values():
    from lifelines.utils import concordance_index

    proportions, time, event = _data(seed=2)
    result = cross_validate(proportions, time, event, folds=5, seed=1)
    # the C-index counts pairs of slides held out in the same fold (scored by the same model) only
    same_fold = result.fold[:, None] == result.fold[None, :]
    pairs = [(i, j) for i in range(len(time)) for j in range(len(time))
             if same_fold[i, j] and event[i] and time[i] < time[j]]
    within = np.mean([1.0 if result.risk[i] > result.risk[j] else 0.5 if result.risk[i] == result.risk[j]
                      else 0.0 for i, j in pairs])
    assert result.c_index == pytest.approx(within)
    assert result.c_index_pooled == pytest.approx(_harrell(time, result.risk, event))
    for number, value in enumerate(result.c_index_folds):
        fold = result.fold == number
        assert value == pytest.approx(concordance_index(time[fold], -result.risk[fold], event[fold]))
    folds = [result.fold == f for f in range(5)]
    terms = [_logrank_terms(time[f], event[f], result.high_risk[f]) for f in folds]
    assert result.logrank_z == pytest.approx(sum(t[0] for t in terms) / np.sqrt(sum(t[1] for t in terms)))
    two_sided = _logrank_by_hand(time, event, result.high_risk)
    assert result.logrank_p_two_sided == pytest.approx(two_sided, rel=1e-6)
    assert result.logrank_p == pytest.approx(two_sided / 2, rel=1e-6)  # split in the predicted direction
    assert result.c_index > 0.6  # p1 drives the hazard
    assert all("p1" in chosen for chosen in result.selected)
    for number, threshold in enumerate(result.thresholds):
        held_out = result.fold == number
        np.testing.assert_array_equal(result.high_risk[held_out], result.risk[held_out] > threshold)


def test_concordance_counts_match_lifelines_with_tied_times_and_risks():
    from lifelines.utils import concordance_index

    rng = np.random.default_rng(4)
    time = rng.integers(1, 6, 25).astype(float)  # many tied times
    risk = rng.integers(0, 4, 25).astype(float)  # many tied risks
    event = (rng.random(25) < 0.6).astype(int)
    concordant, comparable = concordance_counts(time, risk, event)
    assert concordant / comparable == pytest.approx(concordance_index(time, -risk, event))


def test_stratified_folds_spread_the_events():
    event = np.array([1] * 9 + [0] * 15)
    folds = fold_assignments(24, 3, seed=0, event=event)
    assert sorted(np.bincount(folds)) == [8, 8, 8]
    assert sorted(np.bincount(folds[event == 1])) == [3, 3, 3]
    tiny = fold_assignments(3, 3, seed=0, event=np.array([1, 0, 0]))  # no class fills 3 folds
    assert sorted(tiny) == [0, 1, 2]


def test_folds_ignore_outcomes_and_are_balanced():
    folds = fold_assignments(23, 5, seed=0)
    assert sorted(np.bincount(folds)) == [4, 4, 5, 5, 5]
    np.testing.assert_array_equal(folds, fold_assignments(23, 5, seed=0))


def test_logrank_is_undefined_for_a_single_group():
    assert logrank(np.arange(1.0, 5.0), np.ones(4, int), np.zeros(4, bool)) is None


def test_a_reversed_split_is_not_significant_one_sided():
    time = np.arange(1.0, 21.0)
    event = np.ones(20, dtype=int)
    high = time > 10  # the "high-risk" group lives longest: the prediction failed
    assert logrank(time, event, high, one_sided=False) < 0.01
    assert logrank(time, event, high) > 0.99
    assert logrank(time, event, ~high) < 0.01


def test_cohort_cox_reports_hazard_ratios_with_intervals():
    proportions, time, event = _data(seed=3, n=60)
    cox = fit_cohort_cox(proportions, time, event, ["p1", "p0"])
    assert set(cox) == {"p1", "p0"}
    row = cox["p1"]
    assert row["coef"] > 0
    assert row["hazard_ratio"] == pytest.approx(np.exp(row["coef"]))
    assert row["hr_ci_low"] == pytest.approx(np.exp(row["coef_ci_low"]))
    assert row["coef_ci_low"] < row["coef"] < row["coef_ci_high"]


def test_permutation_p_separates_signal_from_shuffled_outcomes():
    proportions, time, event = _data(seed=2)
    observed = cross_validate(proportions, time, event, folds=2, seed=0).c_index
    steps = []
    p_signal = permutation_p(proportions, time, event, observed, folds=2, permutations=5,
                             on_step=lambda: steps.append(1))
    assert len(steps) == 5
    assert p_signal == pytest.approx(1 / 6)  # no shuffle reaches the real C-index
    order = np.random.default_rng(0).permutation(len(time))
    null_observed = cross_validate(proportions, time[order], event[order], folds=2, seed=0).c_index
    p_null = permutation_p(proportions, time[order], event[order], null_observed, folds=2, permutations=5)
    assert p_null >= 2 / 6
