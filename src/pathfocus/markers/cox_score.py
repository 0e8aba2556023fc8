"""Cox partial-likelihood score and information at beta = 0: the score test and a one-step Cox fit.

Both need no iterative fit, which matters because the repeated cross-validation and its permutation
null fit a model in every fold of every repeat of every shuffle (200 x 20 x 3 = 12,000 fits by
default; lifelines' ``CoxPHFitter`` takes about 40 ms each, so eight minutes, against a few seconds
here). Ties follow Breslow's convention: every slide with a time at or after an event time is at risk.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import norm


def score_information(x: np.ndarray, time: np.ndarray, event: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Score vector ``U`` and information matrix ``I`` of a Cox model at beta = 0.

    ``U = sum over events of (x_i - mean of x over the risk set)`` and ``I = sum over events of the
    covariance of x over the risk set``; ``x`` is N x P (a 1-D array is one covariate).
    """
    values = np.asarray(x, dtype=float)
    values = values[:, None] if values.ndim == 1 else values
    order = np.argsort(-np.asarray(time, dtype=float), kind="stable")
    t, d, v = np.asarray(time, dtype=float)[order], np.asarray(event)[order].astype(bool), values[order]
    # risk set of each slide = all slides with time >= its time: cumulative sums from the longest time
    n_at_risk = np.arange(1, len(t) + 1, dtype=float)
    last_of_tie = np.r_[np.flatnonzero(t[1:] != t[:-1]), len(t) - 1]
    index = last_of_tie[np.searchsorted(-t[last_of_tie], -t, side="left")][d]
    sum_x = np.cumsum(v, axis=0)[index]
    sum_xx = np.cumsum(v[:, :, None] * v[:, None, :], axis=0)[index]
    count = n_at_risk[index][:, None]
    mean = sum_x / count
    score = np.sum(v[d] - mean, axis=0)
    information = np.sum(sum_xx / count[:, :, None] - mean[:, :, None] * mean[:, None, :], axis=0)
    return score, information


def cox_score_test(x: np.ndarray, time: np.ndarray, event: np.ndarray) -> tuple[float, float]:
    """Score (Rao) test of one covariate in a Cox model at beta = 0: ``(z, two-sided p)``.

    It stays finite when a covariate separates the outcomes perfectly (where the Wald test breaks
    down); with a 0/1 covariate and no tied times it is the log-rank test.
    """
    score, information = score_information(np.asarray(x, dtype=float), time, event)
    if information[0, 0] <= 1e-12:
        return float("nan"), float("nan")
    z = float(score[0] / np.sqrt(information[0, 0]))
    return z, float(2.0 * norm.sf(abs(z)))


def one_step_cox(x: np.ndarray, time: np.ndarray, event: np.ndarray, penalizer: float) -> np.ndarray:
    """Coefficients after one Newton step from beta = 0 of the ridge-penalised Cox partial likelihood.

    ``beta = (I + n * penalizer)^-1 U``, with the penalty scaled by the number of slides as lifelines
    scales it. NOTE: held-out slides are only ranked by ``x @ beta``, so only beta's direction matters:
    with one covariate any Cox fit ranks them identically, and with a few the first step already points
    where the likelihood rises fastest; the ridge keeps collinear columns (proportions sum to one) solvable.
    """
    score, information = score_information(x, time, event)
    ridge = len(time) * penalizer * np.eye(len(score))
    try:
        return np.linalg.solve(information + ridge, score)
    except np.linalg.LinAlgError:
        return np.zeros_like(score)
