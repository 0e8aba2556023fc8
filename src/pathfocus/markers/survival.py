"""Survival statistics of candidate markers, with every reported figure measured on held-out slides.

Inside each cross-validation fold, on the training slides only: the prototypes are ranked by how
unevenly they spread over outcome, the top few become the candidate markers, a ridge-penalised Cox model
is fitted on them (plus any clinical covariates), and the risk threshold that splits high from low risk
is the median training risk. The held-out slides are then scored and assigned a group. The reported
C-index (pooled over all out-of-fold risks), the Kaplan-Meier curves and the log-rank test all use these
out-of-fold values, so no number is chosen on the slides it is reported on. The Cox coefficients on the
whole cohort are descriptive (what the markers look like), not a performance estimate.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from lifelines import KaplanMeierFitter
from lifelines.statistics import logrank_test
from lifelines.utils import concordance_index
from scipy.stats import norm
from sklearn.model_selection import KFold

from pathfocus.markers.uniqueness import cox_score_test, fit_cox, rank_by_outcome

log = logging.getLogger(__name__)

PENALIZER = 0.1
N_MARKERS = 2


@dataclass
class CrossValidation:
    """Out-of-fold results: risk and group per slide, C-index and log-rank test on them."""

    c_index: float
    c_index_folds: list[float | None]
    risk: np.ndarray
    high_risk: np.ndarray
    thresholds: list[float]
    selected: list[list[str]]
    logrank_p: float | None
    logrank_p_two_sided: float | None
    fold: np.ndarray = field(repr=False)


def fold_assignments(n_slides: int, folds: int, seed: int) -> np.ndarray:
    """Fold index per slide from a shuffled, unstratified K-fold split.

    NOTE: stratifying by event fixes the number of events in every training set, which makes held-out
    slides systematically look like the opposite of their training folds when there is no signal
    ("stratification bias", Parker et al. 2007); on shuffled synthetic cohorts it pulled the C-index
    down to about 0.3 on several seeds, so the split ignores outcomes altogether.
    """
    index = np.zeros(n_slides, dtype=int)
    splits = KFold(folds, shuffle=True, random_state=seed).split(np.zeros(n_slides))
    for number, (_, test) in enumerate(splits):
        index[test] = number
    return index


def _design(proportions: pd.DataFrame, covariates: pd.DataFrame, markers: list[str]) -> pd.DataFrame:
    return pd.concat([proportions[markers], covariates], axis=1)


def _standardise(train: pd.DataFrame, test: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    mean, std = train.mean(), train.std(ddof=0).replace(0.0, 1.0)
    return (train - mean) / std, (test - mean) / std


def cross_validate(proportions: pd.DataFrame, time: np.ndarray, event: np.ndarray,
                   covariates: pd.DataFrame | None = None, n_markers: int = N_MARKERS, folds: int = 5,
                   seed: int = 0, penalizer: float = PENALIZER,
                   on_fold: Callable[[], None] | None = None) -> CrossValidation:
    """Select markers, fit Cox and choose the risk threshold on training folds; score held-out slides."""
    covariates = pd.DataFrame(index=proportions.index) if covariates is None else covariates
    assignment = fold_assignments(len(time), folds, seed)
    risk = np.zeros(len(time))
    high = np.zeros(len(time), dtype=bool)
    thresholds: list[float] = []
    selected: list[list[str]] = []
    per_fold: list[float | None] = []
    for number in range(folds):
        train, test = assignment != number, assignment == number
        if event[train].sum() == 0:
            log.warning("fold %d has no event among its training slides; its held-out slides get no risk",
                        number)
            thresholds.append(0.0)
            selected.append([])
            per_fold.append(None)
            continue
        markers = rank_by_outcome(proportions[train], time[train], event[train])[:n_markers]
        x_train, x_test = _standardise(_design(proportions[train], covariates[train], markers),
                                       _design(proportions[test], covariates[test], markers))
        model = fit_cox(x_train.assign(time=time[train], event=event[train]), penalizer)
        train_risk = model.predict_log_partial_hazard(x_train).to_numpy()
        risk[test] = model.predict_log_partial_hazard(x_test).to_numpy()
        threshold = float(np.median(train_risk))
        high[test] = risk[test] > threshold
        thresholds.append(threshold)
        selected.append(markers)
        per_fold.append(_concordance(time[test], risk[test], event[test]))
        if on_fold is not None:
            on_fold()
    pooled = _concordance(time, risk, event)
    return CrossValidation(c_index=float("nan") if pooled is None else pooled, c_index_folds=per_fold,
                           risk=risk, high_risk=high, thresholds=thresholds, selected=selected,
                           logrank_p=logrank(time, event, high),
                           logrank_p_two_sided=logrank(time, event, high, one_sided=False), fold=assignment)


def permutation_p(proportions: pd.DataFrame, time: np.ndarray, event: np.ndarray, observed: float,
                  covariates: pd.DataFrame | None = None, n_markers: int = N_MARKERS, folds: int = 5,
                  seed: int = 0, penalizer: float = PENALIZER, permutations: int = 99,
                  on_step: Callable[[], None] | None = None) -> float:
    """How often the whole cross-validation reaches ``observed`` C-index with outcomes shuffled between
    slides: ``(1 + #{C_shuffled >= observed}) / (1 + permutations)``.

    Small cohorts scatter a null C-index widely (about 0.12 with 24 slides), so this says whether the
    observed value stands out from what chance gives on the same slides, selection step included.
    """
    rng = np.random.default_rng([seed, 7])
    exceed = 0
    for _ in range(permutations):
        order = rng.permutation(len(time))
        shuffled = cross_validate(proportions, time[order], event[order], covariates, n_markers, folds, seed,
                                  penalizer)
        exceed += bool(shuffled.c_index >= observed)
        if on_step is not None:
            on_step()
    return (1 + exceed) / (1 + permutations)


def _concordance(time: np.ndarray, risk: np.ndarray, event: np.ndarray) -> float | None:
    """Harrell's C of a risk score (higher = earlier event); None when no pair is comparable."""
    try:
        return float(concordance_index(time, -risk, event))
    except ZeroDivisionError:
        return None


def logrank(time: np.ndarray, event: np.ndarray, high: np.ndarray, one_sided: bool = True) -> float | None:
    """Log-rank p-value between the high- and low-risk groups (None when a group is empty).

    One-sided by default: the alternative is that the group predicted to be at high risk dies sooner.
    NOTE: a two-sided test would call a reversed split "significant" (held-out slides behaving opposite
    to their training folds, which happens by chance in small null cohorts), so it would be a false
    claim that the marker works.
    """
    if high.all() or not high.any():
        return None
    result = logrank_test(time[high], time[~high], event_observed_A=event[high],
                          event_observed_B=event[~high])
    if not one_sided:
        return float(result.p_value)
    # observed minus expected events in the high-risk group has the sign of the Cox score of the group
    direction = np.sign(cox_score_test(high.astype(float), time, event)[0])
    return float(norm.sf(direction * np.sqrt(result.test_statistic)))


def fit_cohort_cox(proportions: pd.DataFrame, time: np.ndarray, event: np.ndarray, markers: list[str],
                   covariates: pd.DataFrame | None = None, penalizer: float = PENALIZER) -> dict[str, dict]:
    """Penalised Cox on the whole cohort: per covariate (per SD) coef, hazard ratio, 95% CIs, p."""
    covariates = pd.DataFrame(index=proportions.index) if covariates is None else covariates
    design = _design(proportions, covariates, markers)
    design = (design - design.mean()) / design.std(ddof=0).replace(0.0, 1.0)
    model = fit_cox(design.assign(time=time, event=event), penalizer)
    result = {}
    for name, row in model.summary.iterrows():
        result[str(name)] = {
            "coef": float(row["coef"]), "coef_ci_low": float(row["coef lower 95%"]),
            "coef_ci_high": float(row["coef upper 95%"]), "hazard_ratio": float(row["exp(coef)"]),
            "hr_ci_low": float(row["exp(coef) lower 95%"]), "hr_ci_high": float(row["exp(coef) upper 95%"]),
            "p": float(row["p"]),
        }
    return result


def km_figure(time: np.ndarray, event: np.ndarray, high: np.ndarray, title: str):
    """Kaplan-Meier curves of the out-of-fold high- and low-risk groups (a matplotlib Figure)."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(5.5, 4))
    axes = figure.add_subplot()
    for mask, name, colour in ((~high, "low risk", "tab:blue"), (high, "high risk", "tab:red")):
        if mask.any():
            KaplanMeierFitter(label=f"{name} (n={int(mask.sum())})").fit(
                time[mask], event[mask]).plot_survival_function(ax=axes, color=colour, ci_show=True)
    axes.set_xlabel("time")
    axes.set_ylabel("survival probability")
    axes.set_title(title, fontsize=9)
    axes.set_ylim(0, 1.05)
    return figure
