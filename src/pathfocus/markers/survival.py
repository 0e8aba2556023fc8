"""Survival statistics of candidate markers, with every reported figure measured on held-out slides.

Inside each cross-validation fold, on the training slides only: the prototypes are ranked by how
unevenly they spread over outcome (Cox score test), the top few become the candidate markers, a
ridge-penalised Cox model is fitted on them (plus any clinical covariates; one Newton step, see
:mod:`pathfocus.markers.cox_score`), and the risk threshold that splits high from low risk is the median
training risk. The held-out slides are then scored and assigned a group.

The C-index counts concordant pairs *within* each held-out fold only: pooling out-of-fold risks of
differently fitted models compares numbers on different scales and, on small low-signal cohorts, can
pull the estimate far below 0.5 (Parker et al. 2007; the pooled value is kept as ``c_index_pooled`` for
comparison). The log-rank statistic is likewise stratified by fold. Folds are stratified by event so every
held-out fold has events to compare. :mod:`pathfocus.markers.validation` repeats this over many fold
assignments and builds its permutation null. The Cox coefficients on the whole cohort are descriptive
(what the markers look like), not a performance estimate.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from lifelines import KaplanMeierFitter
from lifelines.statistics import logrank_test
from lifelines.utils import concordance_index
from scipy.stats import norm
from sklearn.model_selection import KFold, StratifiedKFold

from pathfocus.markers.cox_score import cox_score_test, one_step_cox, score_information
from pathfocus.markers.defaults import FOLDS
from pathfocus.markers.uniqueness import fit_cox, outcome_z

log = logging.getLogger(__name__)

PENALIZER = 0.1
N_MARKERS = 2


@dataclass
class CrossValidation:
    """One cross-validation split: risk and group per slide, C-index and log-rank test on them.

    ``c_index`` counts concordant pairs within held-out folds only; ``c_index_folds`` is each fold's own
    Harrell C; ``logrank_z`` is the fold-stratified one-sided log-rank z of the risk groups (positive: the
    high-risk group dies sooner). ``logrank_p`` and ``c_index_pooled`` pool all out-of-fold values.
    """

    c_index: float
    c_index_folds: list[float | None]
    risk: np.ndarray
    high_risk: np.ndarray
    thresholds: list[float]
    selected: list[list[str]]
    logrank_p: float | None
    logrank_p_two_sided: float | None
    fold: np.ndarray = field(repr=False)
    c_index_pooled: float = float("nan")
    logrank_z: float = float("nan")


def fold_assignments(n_slides: int, folds: int, seed: int, event: np.ndarray | None = None) -> np.ndarray:
    """Fold index per slide: a shuffled K-fold split, stratified by ``event`` when it is given.

    NOTE: stratification keeps events in every held-out fold, so each fold has comparable pairs. Its
    known pessimistic bias on low-signal data (Parker et al. 2007) comes from pooling held-out scores
    across folds; the within-fold C-index and fold-stratified log-rank used here do not pool.
    """
    index = np.zeros(n_slides, dtype=int)
    if event is not None and np.bincount(np.asarray(event, dtype=int)).max() < folds:
        event = None  # no class fills every fold (a tiny cohort): nothing to stratify
    if event is None:
        splits = KFold(folds, shuffle=True, random_state=seed).split(np.zeros(n_slides))
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "least populated class has only N members"
            splits = list(StratifiedKFold(folds, shuffle=True, random_state=seed).split(
                np.zeros(n_slides), np.asarray(event)))
    for number, (_, test) in enumerate(splits):
        index[test] = number
    return index


def _design(proportions: pd.DataFrame, covariates: pd.DataFrame, markers: list[str]) -> pd.DataFrame:
    return pd.concat([proportions[markers], covariates], axis=1)


def concordance_counts(time: np.ndarray, risk: np.ndarray, event: np.ndarray) -> tuple[float, int]:
    """Harrell's concordant (ties in risk count one half) and comparable pair counts of a risk score.

    A pair is comparable when the earlier time is an event (a censored time equal to an event time
    counts as later), as in ``lifelines.utils.concordance_index``.
    """
    died = np.asarray(event).astype(bool)
    earlier = time[:, None] < time[None, :]
    comparable = died[:, None] & (earlier | ((time[:, None] == time[None, :]) & ~died[None, :]))
    difference = risk[:, None] - risk[None, :]
    concordant = np.where(difference > 0, 1.0, np.where(difference == 0, 0.5, 0.0))[comparable].sum()
    return float(concordant), int(comparable.sum())


def cross_validate(proportions: pd.DataFrame, time: np.ndarray, event: np.ndarray,
                   covariates: pd.DataFrame | None = None, n_markers: int = N_MARKERS, folds: int = FOLDS,
                   seed: int = 0, penalizer: float = PENALIZER,
                   on_fold: Callable[[], None] | None = None) -> CrossValidation:
    """Select markers, fit Cox and choose the risk threshold on training folds; score held-out slides."""
    covariates = pd.DataFrame(index=proportions.index) if covariates is None else covariates
    time, event = np.asarray(time, dtype=float), np.asarray(event).astype(int)
    assignment = fold_assignments(len(time), folds, seed, event)
    return split_statistics(proportions.to_numpy(dtype=float), covariates.to_numpy(dtype=float),
                            list(proportions.columns), time, event, assignment, n_markers, penalizer, on_fold)


def split_statistics(values: np.ndarray, extra: np.ndarray, names: list[str], time: np.ndarray,
                     event: np.ndarray, assignment: np.ndarray, n_markers: int = N_MARKERS,
                     penalizer: float = PENALIZER, on_fold: Callable[[], None] | None = None,
                     pooled: bool = True) -> CrossValidation:
    """:func:`cross_validate` on arrays and a given fold assignment (the loop repeats and shuffles run).

    ``pooled=False`` skips the pooled C-index and log-rank p-values (NaN/None), the slow part, for the
    thousands of splits of the permutation null that only need the within-fold figures.
    """
    risk = np.zeros(len(time))
    high = np.zeros(len(time), dtype=bool)
    thresholds: list[float] = []
    selected: list[list[str]] = []
    per_fold: list[float | None] = []
    concordant, comparable, score, information = 0.0, 0, 0.0, 0.0
    for number in range(int(assignment.max()) + 1):
        train, test = assignment != number, assignment == number
        if event[train].sum() == 0:
            log.warning("fold %d has no event among its training slides; its held-out slides get no risk",
                        number)
            thresholds.append(0.0)
            selected.append([])
            per_fold.append(None)
            continue
        strength = np.nan_to_num(np.abs(outcome_z(values[train], time[train], event[train])), nan=-1.0)
        chosen = np.argsort(-strength, kind="stable")[:n_markers]
        design = np.hstack([values[:, chosen], extra])
        mean, std = design[train].mean(axis=0), design[train].std(axis=0)
        design = (design - mean) / np.where(std > 0, std, 1.0)
        beta = one_step_cox(design[train], time[train], event[train], penalizer)
        train_risk = design[train] @ beta
        risk[test] = design[test] @ beta
        threshold = float(np.median(train_risk))
        high[test] = risk[test] > threshold
        thresholds.append(threshold)
        selected.append([names[i] for i in chosen])
        pairs = concordance_counts(time[test], risk[test], event[test])
        concordant, comparable = concordant + pairs[0], comparable + pairs[1]
        per_fold.append(pairs[0] / pairs[1] if pairs[1] else None)
        u, v = score_information(high[test].astype(float), time[test], event[test])
        score, information = score + float(u[0]), information + float(v[0, 0])
        if on_fold is not None:
            on_fold()
    pooled_c = _concordance(time, risk, event) if pooled else None
    return CrossValidation(
        c_index=concordant / comparable if comparable else float("nan"), c_index_folds=per_fold, risk=risk,
        high_risk=high, thresholds=thresholds, selected=selected,
        logrank_p=logrank(time, event, high) if pooled else None,
        logrank_p_two_sided=logrank(time, event, high, one_sided=False) if pooled else None, fold=assignment,
        c_index_pooled=float("nan") if pooled_c is None else pooled_c,
        logrank_z=score / np.sqrt(information) if information > 1e-12 else float("nan"))


def permutation_p(proportions: pd.DataFrame, time: np.ndarray, event: np.ndarray, observed: float,
                  covariates: pd.DataFrame | None = None, n_markers: int = N_MARKERS, folds: int = FOLDS,
                  seed: int = 0, penalizer: float = PENALIZER, permutations: int = 99,
                  on_step: Callable[[], None] | None = None, repeats: int = 1) -> float:
    """Permutation p-value of an ``observed`` cross-validated C-index (of ``repeats`` fold assignments):
    ``(1 + #{C_shuffled >= observed}) / (1 + permutations)`` with outcomes shuffled between slides.

    See :func:`pathfocus.markers.validation.permutation_null`, which this calls.
    """
    from pathfocus.markers.validation import permutation_null, upper_p

    null = permutation_null(proportions, time, event, covariates, n_markers, folds, repeats, seed, penalizer,
                            permutations, on_step)
    return upper_p(null.c_index, observed)


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
