"""Uniqueness of a prototype: how distinct it is, and how unevenly it spreads over outcomes.

Distinctness is the mean silhouette of the prototype's regions (near 1: a tight, well separated
cluster; near 0 or below: it blends into its neighbours). Unevenness is tested two ways on the per-slide
proportions, each corrected for testing K prototypes at once (Benjamini-Hochberg):

- a univariate Cox model per prototype (hazard ratio per standard deviation of the proportion with its
  Wald interval; score test for the p-value): the primary test, because it uses censored follow-up;
- a Mann-Whitney test between short survivors (event at or before the median follow-up time) and long
  survivors (followed beyond it), with the rank-biserial correlation as effect size; slides censored
  before the median are left out because their group is unknown.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pandas as pd
from lifelines import CoxPHFitter
from lifelines.exceptions import ConvergenceError
from scipy.stats import false_discovery_control, mannwhitneyu
from sklearn.metrics import silhouette_samples

from pathfocus.errors import InputError
from pathfocus.markers.cox_score import cox_score_test, score_information
from pathfocus.markers.prototypes import SILHOUETTE_SAMPLE, Prototypes

log = logging.getLogger(__name__)

ALPHA = 0.05


def separability(prototypes: Prototypes, seed: int = 0) -> np.ndarray:
    """Mean silhouette of each prototype's regions (NaN for a prototype absent from the sample)."""
    labels, scaled = prototypes.labels, prototypes.scaled_features
    index = np.arange(len(labels))
    if len(index) > SILHOUETTE_SAMPLE:
        index = np.random.default_rng(seed).choice(index, SILHOUETTE_SAMPLE, replace=False)
    values = silhouette_samples(scaled[index], labels[index])
    result = np.full(prototypes.k, np.nan)
    for cluster in range(prototypes.k):
        members = labels[index] == cluster
        if members.any():
            result[cluster] = float(values[members].mean())
    return result


def bh_adjust(p_values: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg q-values; NaN p-values (untestable prototypes) stay NaN and are not counted."""
    p = np.asarray(p_values, dtype=float)
    q = np.full_like(p, np.nan)
    finite = np.isfinite(p)
    if finite.any():
        q[finite] = false_discovery_control(p[finite], method="bh")
    return q


def univariate_cox(values: pd.DataFrame, time: np.ndarray, event: np.ndarray,
                   penalizer: float = 0.0) -> pd.DataFrame:
    """One Cox model per column of ``values`` (standardised): log hazard ratio per SD with its 95% CI
    (lifelines), and the score test's z and p.

    Constant columns (a prototype every slide has in the same proportion) cannot be tested and get NaN.
    """
    rows = []
    for column in values.columns:
        x = values[column].to_numpy(dtype=float)
        z, p = cox_score_test(x, time, event)
        if not np.isfinite(z):
            rows.append({"name": column, "log_hr": np.nan, "ci_low": np.nan, "ci_high": np.nan,
                         "z": np.nan, "p": np.nan})
            continue
        frame = pd.DataFrame({"x": (x - x.mean()) / x.std(), "time": time, "event": event})
        model = fit_cox(frame, penalizer)
        coef, se = float(model.params_["x"]), float(model.standard_errors_["x"])
        rows.append({"name": column, "log_hr": coef, "ci_low": coef - 1.959964 * se,
                     "ci_high": coef + 1.959964 * se, "z": z, "p": p})
    return pd.DataFrame(rows).set_index("name")


def fit_cox(frame: pd.DataFrame, penalizer: float) -> CoxPHFitter:
    """Fit a Cox model on ``frame`` (columns ``time``, ``event`` + covariates), retrying with a ridge
    penalty when the unpenalised fit does not converge (e.g. a covariate that perfectly separates)."""
    for attempt in dict.fromkeys((penalizer, max(penalizer, 0.1), max(penalizer, 1.0))):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return CoxPHFitter(penalizer=attempt).fit(frame, duration_col="time", event_col="event")
        except (ConvergenceError, np.linalg.LinAlgError):
            log.debug("Cox fit did not converge with penalizer %s; retrying with more", attempt)
    covariates = [c for c in frame.columns if c not in ("time", "event")]
    msg = (f"the Cox model on {covariates} did not converge even with a strong penalty; drop constant or "
           "duplicated clinical covariates, or pass a smaller --k")
    raise InputError(msg)


def survival_groups(time: np.ndarray, event: np.ndarray) -> np.ndarray:
    """1 = short survivor (event at or before the median time), 0 = long survivor, -1 = unknown."""
    median = float(np.median(time))
    groups = np.full(len(time), -1)
    groups[(event == 1) & (time <= median)] = 1
    groups[time > median] = 0
    return groups


def mann_whitney(values: pd.DataFrame, time: np.ndarray, event: np.ndarray) -> pd.DataFrame:
    """Short vs long survivors per column: rank-biserial effect (positive = more in short) and p."""
    groups = survival_groups(time, event)
    rows = []
    for column in values.columns:
        x = values[column].to_numpy(dtype=float)
        short, long_ = x[groups == 1], x[groups == 0]
        if len(short) < 2 or len(long_) < 2 or np.ptp(np.concatenate([short, long_])) == 0:
            rows.append({"name": column, "effect": np.nan, "p": np.nan})
            continue
        result = mannwhitneyu(short, long_, alternative="two-sided")
        effect = 2.0 * float(result.statistic) / (len(short) * len(long_)) - 1.0
        rows.append({"name": column, "effect": effect, "p": float(result.pvalue)})
    return pd.DataFrame(rows).set_index("name")


def outcome_z(proportions: pd.DataFrame | np.ndarray, time: np.ndarray, event: np.ndarray) -> np.ndarray:
    """Score-test z of each column in its own univariate Cox model (NaN for a constant column)."""
    score, information = score_information(np.asarray(proportions, dtype=float), time, event)
    variance = np.diag(information)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(variance > 1e-12, score / np.sqrt(np.maximum(variance, 1e-300)), np.nan)


def rank_by_outcome(proportions: pd.DataFrame, time: np.ndarray, event: np.ndarray) -> list[str]:
    """Prototype columns ordered from most to least uneven over outcome (Cox score test |z|)."""
    strength = np.nan_to_num(np.abs(outcome_z(proportions, time, event)), nan=-1.0)
    return [proportions.columns[i] for i in np.argsort(-strength, kind="stable")]


def uniqueness_table(prototypes: Prototypes, proportions: pd.DataFrame, time: np.ndarray,
                     event: np.ndarray, seed: int = 0) -> pd.DataFrame:
    """Per prototype: separability, Cox and Mann-Whitney unevenness with BH q-values, significance."""
    cox = univariate_cox(proportions, time, event)
    mw = mann_whitney(proportions, time, event)
    table = pd.DataFrame(index=proportions.columns)
    table["separability"] = separability(prototypes, seed)
    table["n_regions"] = np.bincount(prototypes.labels, minlength=prototypes.k)
    table["mean_proportion"] = proportions.mean(axis=0).to_numpy()
    table["log_hr_per_sd"] = cox["log_hr"]
    table["log_hr_ci_low"] = cox["ci_low"]
    table["log_hr_ci_high"] = cox["ci_high"]
    table["cox_p"] = cox["p"]
    table["cox_q"] = bh_adjust(cox["p"].to_numpy())
    table["rank_biserial"] = mw["effect"]
    table["mw_p"] = mw["p"]
    table["mw_q"] = bh_adjust(mw["p"].to_numpy())
    table["significant"] = (table["cox_q"] < ALPHA).astype(bool)
    return table
