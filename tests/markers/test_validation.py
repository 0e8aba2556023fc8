"""Repeated cross-validation, its permutation null and the verdict: centred on 0.5 under the null, p-values
as scipy computes them, and "inconclusive" whenever the evidence is thin."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import permutation_test

from pathfocus.markers.cox_score import one_step_cox, score_information
from pathfocus.markers.survival import cross_validate
from pathfocus.markers.validation import (
    SEED_STRIDE,
    permutation_null,
    repeated_cv,
    upper_p,
    verdict,
    verdict_sentence,
)


def _table(n: int, seed: int = 0, signal: float = 0.0) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Per-slide proportions of 5 prototypes; ``signal`` is the log hazard ratio per SD of p1."""
    rng = np.random.default_rng(seed)
    proportions = pd.DataFrame(rng.dirichlet(np.full(5, 2.0), n), columns=[f"p{i}" for i in range(5)])
    z = (proportions["p1"] - proportions["p1"].mean()) / proportions["p1"].std()
    event_time = rng.exponential(1.0 / np.exp(signal * z.to_numpy()))
    censor_time = rng.exponential(2.5, n)  # about 30 % censored
    return proportions, np.minimum(event_time, censor_time), (event_time <= censor_time).astype(int)


@pytest.mark.parametrize("n", [24, 48])
def test_cross_validated_c_index_is_centred_on_one_half_over_shuffles_of_a_fixed_table(n):
    """The issue's null check: a fixed feature table, many shuffles of its outcomes."""
    proportions, time, event = _table(n)
    rng = np.random.default_rng(1)
    values = []
    for _ in range(120):
        order = rng.permutation(n)
        values.append(repeated_cv(proportions, time[order], event[order], repeats=4, pooled=False).c_index)
    values = np.array(values)
    # NOTE: within-fold concordance is exactly 0.5 in expectation under shuffling; 0.03 is ~4 standard
    # errors of this mean (one null C-index scatters by about 0.1 at 24 slides)
    assert abs(values.mean() - 0.5) < 0.03
    assert 0.03 < values.std() < 0.2


def test_signal_stands_out_from_its_null():
    proportions, time, event = _table(48, seed=3, signal=1.5)
    observed = repeated_cv(proportions, time, event, repeats=5)
    null = permutation_null(proportions, time, event, repeats=5, permutations=39)
    summary = null.summary(observed)
    assert observed.c_index > 0.65 and observed.c_index_interval[0] > 0.5
    assert summary["permutation_p"] == pytest.approx(1 / 40)  # no shuffle reaches it
    assert abs(summary["null_mean"] - 0.5) < 0.05
    assert summary["logrank_permutation_p"] < 0.05 and observed.logrank_z > 2.0


def test_repeats_average_the_single_splits_of_their_seeds():
    proportions, time, event = _table(30, seed=2, signal=0.5)
    result = repeated_cv(proportions, time, event, repeats=6, seed=5)
    singles = [cross_validate(proportions, time, event, seed=5 + r * SEED_STRIDE) for r in range(6)]
    assert result.c_index == pytest.approx(np.mean([s.c_index for s in singles]))
    assert result.logrank_z == pytest.approx(np.mean([s.logrank_z for s in singles]))
    assert result.c_index_interval == pytest.approx(tuple(np.percentile([s.c_index for s in singles],
                                                                        [2.5, 97.5])))
    np.testing.assert_array_equal(result.first.fold, singles[0].fold)  # repeat 0 is the drawn split


def test_permutation_null_is_the_repeated_cv_of_each_shuffle_and_its_p_is_scipys():
    proportions, time, event = _table(24, seed=4, signal=0.8)
    null = permutation_null(proportions, time, event, repeats=3, seed=2, permutations=9)
    rng = np.random.default_rng([2, 7])  # the documented shuffles, recomputed through the public splits
    for number in range(9):
        order = rng.permutation(24)
        expected = np.mean([cross_validate(proportions, time[order], event[order], seed=2 + r * SEED_STRIDE)
                            .c_index for r in range(3)])
        assert null.c_index[number] == pytest.approx(expected)

    def statistic(order):
        return repeated_cv(proportions, time[order], event[order], repeats=2, pooled=False).c_index

    reference = permutation_test((np.arange(24),), statistic, permutation_type="pairings", n_resamples=19,
                                 alternative="greater", vectorized=False, random_state=0)
    assert upper_p(reference.null_distribution, reference.statistic) == pytest.approx(reference.pvalue)


def test_upper_p_counts_ties_and_missing_values_as_reaching():
    assert upper_p(np.array([0.4, 0.6, 0.7]), 0.6) == pytest.approx(3 / 4)
    assert upper_p(np.array([0.4, np.nan, 0.5]), 0.6) == pytest.approx(2 / 4)
    assert np.isnan(upper_p(np.array([0.4]), float("nan")))


def test_score_and_information_match_the_textbook_sums():
    rng = np.random.default_rng(6)
    x = rng.normal(size=(15, 2))
    time = rng.integers(1, 8, 15).astype(float)  # tied times: Breslow risk sets
    event = (rng.random(15) < 0.7).astype(int)
    score, information = np.zeros(2), np.zeros((2, 2))
    for i in np.flatnonzero(event):
        at_risk = x[time >= time[i]]
        score += x[i] - at_risk.mean(axis=0)
        information += np.cov(at_risk.T, bias=True)
    got_score, got_information = score_information(x, time, event)
    np.testing.assert_allclose(got_score, score)
    np.testing.assert_allclose(got_information, information, atol=1e-12)


def test_one_step_cox_points_where_lifelines_fit_points():
    from lifelines import CoxPHFitter

    rng = np.random.default_rng(7)
    x = rng.normal(size=(80, 2))
    time = rng.exponential(1.0 / np.exp(x @ np.array([0.6, -0.3])))
    event = np.ones(80, dtype=int)
    beta = one_step_cox(x, time, event, penalizer=0.1)
    frame = pd.DataFrame(x, columns=["a", "b"]).assign(time=time, event=event)
    fitted = CoxPHFitter(penalizer=0.1).fit(frame, "time", "event").params_.to_numpy()
    cosine = beta @ fitted / (np.linalg.norm(beta) * np.linalg.norm(fitted))
    assert cosine > 0.98


@pytest.mark.parametrize(("args", "expected"), [
    ((14, 0.72, (0.68, 0.76), 0.01), ["only 14 events (fewer than 20)"]),
    ((30, 0.56, (0.48, 0.62), 0.01), ["interval [0.48, 0.62] does not lie above 0.5"]),
    ((30, 0.58, (0.55, 0.61), 0.2), ["does not stand out from shuffled outcomes (permutation p = 0.2"]),
    ((30, 0.70, (0.66, 0.74), None), ["no permutation null was computed"]),
    ((30, float("nan"), (float("nan"), float("nan")), 0.5), ["no C-index could be computed",
                                                               "does not stand out"]),
])
def test_thin_evidence_is_called_inconclusive_with_its_reasons(args, expected):
    kind, reasons = verdict(*args)
    assert kind == "inconclusive"
    assert len(reasons) == len(expected)
    for reason, words in zip(reasons, expected, strict=True):
        assert words in reason
    sentence = verdict_sentence(kind, reasons)
    assert sentence.startswith("inconclusive, not a finding") and expected[0] in sentence


def test_enough_events_and_a_c_index_above_its_null_is_a_finding():
    assert verdict(30, 0.72, (0.68, 0.76), 0.005) == ("finding", [])
    assert verdict_sentence("finding", []).startswith("finding")
