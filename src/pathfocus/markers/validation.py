"""How far the markers' held-out prediction stands from chance: repeated cross-validation, its
permutation null, and the verdict put into words.

- Repeated cross-validation: ``repeats`` random fold assignments (stratified by event) of
  :func:`pathfocus.markers.survival.split_statistics`. Each repeat gives a within-fold C-index and a
  fold-stratified log-rank z; the reported C-index is their mean over repeats, its interval the 2.5 and
  97.5 percentiles of the repeats. That interval only shows how much the figure depends on the fold
  assignment, not how much it would change on another cohort: the null below answers that.
- Permutation null (Simon et al. 2011): the whole procedure, marker selection included, rerun with
  (time, event) shuffled between slides; the p-value is ``(1 + #{null >= observed}) / (1 + B)``
  (Phipson & Smyth 2010). Prototypes are fitted without outcomes, so they stay fixed across shuffles.
  Clinical covariates stay with their slides, so the null is "neither markers nor covariates predict".
- Verdict: a finding only with enough events, a C-index whose permutation p is below alpha and an
  interval above 0.5; anything else is called inconclusive, with the reasons in words.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pathfocus.markers.defaults import FOLDS, MIN_EVENTS, PERMUTATIONS, REPEATS
from pathfocus.markers.survival import (
    N_MARKERS,
    PENALIZER,
    CrossValidation,
    fold_assignments,
    split_statistics,
)
from pathfocus.markers.uniqueness import ALPHA

SEED_STRIDE = 1_000_003  # repeat r splits with seed + r * SEED_STRIDE, so repeat 0 is `cross_validate(seed)`


@dataclass
class RepeatedValidation:
    """Cross-validation over ``repeats`` fold assignments; ``first`` is repeat 0 (the split drawn)."""

    c_index: float
    c_index_interval: tuple[float, float]
    c_index_repeats: np.ndarray
    logrank_z: float
    logrank_z_repeats: np.ndarray
    first: CrossValidation


@dataclass
class NullDistribution:
    """The repeated cross-validation's C-index and log-rank z on each shuffle of the outcomes."""

    c_index: np.ndarray
    logrank_z: np.ndarray

    def summary(self, observed: RepeatedValidation) -> dict[str, float]:
        """Null mean, spread and permutation p-values of the observed C-index and log-rank z."""
        return {"null_mean": _mean(self.c_index), "null_sd": _sd(self.c_index),
                "permutation_p": upper_p(self.c_index, observed.c_index),
                "logrank_null_mean": _mean(self.logrank_z), "logrank_null_sd": _sd(self.logrank_z),
                "logrank_permutation_p": upper_p(self.logrank_z, observed.logrank_z)}


def _mean(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if len(finite) else float("nan")


def _sd(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.std(ddof=1)) if len(finite) > 1 else float("nan")


def upper_p(null: np.ndarray, observed: float) -> float:
    """``(1 + #{null >= observed}) / (1 + len(null))``; a shuffle that gave no value counts as reaching it."""
    if not math.isfinite(observed) or len(null) == 0:
        return float("nan")
    reached = np.sum(~np.isfinite(null) | (null >= observed - 1e-12))
    return float((1 + reached) / (1 + len(null)))


def repeated_cv(proportions: pd.DataFrame, time: np.ndarray, event: np.ndarray,
                covariates: pd.DataFrame | None = None, n_markers: int = N_MARKERS, folds: int = FOLDS,
                repeats: int = REPEATS, seed: int = 0, penalizer: float = PENALIZER,
                on_repeat: Callable[[], None] | None = None, pooled: bool = True) -> RepeatedValidation:
    """Within-fold C-index and fold-stratified log-rank z averaged over ``repeats`` fold assignments.

    ``pooled`` also computes repeat 0's pooled figures (the Kaplan-Meier split's log-rank p).
    """
    values = proportions.to_numpy(dtype=float)
    extra = np.zeros((len(values), 0)) if covariates is None else covariates.to_numpy(dtype=float)
    time, event = np.asarray(time, dtype=float), np.asarray(event).astype(int)
    runs = []
    for number in range(repeats):
        assignment = fold_assignments(len(time), folds, seed + number * SEED_STRIDE, event)
        runs.append(split_statistics(values, extra, list(proportions.columns), time, event, assignment,
                                     n_markers, penalizer, pooled=pooled and number == 0))
        if on_repeat is not None:
            on_repeat()
    c_values = np.array([run.c_index for run in runs])
    z_values = np.array([run.logrank_z for run in runs])
    finite = c_values[np.isfinite(c_values)]
    interval = (float(np.percentile(finite, 2.5)), float(np.percentile(finite, 97.5))) if len(finite) else (
        float("nan"), float("nan"))
    return RepeatedValidation(c_index=_mean(c_values), c_index_interval=interval, c_index_repeats=c_values,
                              logrank_z=_mean(z_values), logrank_z_repeats=z_values, first=runs[0])


def permutation_null(proportions: pd.DataFrame, time: np.ndarray, event: np.ndarray,
                     covariates: pd.DataFrame | None = None, n_markers: int = N_MARKERS, folds: int = FOLDS,
                     repeats: int = REPEATS, seed: int = 0, penalizer: float = PENALIZER,
                     permutations: int = PERMUTATIONS,
                     on_step: Callable[[], None] | None = None) -> NullDistribution:
    """:func:`repeated_cv` on ``permutations`` shuffles of (time, event) between slides (seeded by seed)."""
    rng = np.random.default_rng([seed, 7])
    time, event = np.asarray(time, dtype=float), np.asarray(event).astype(int)
    c_values, z_values = np.full(permutations, np.nan), np.full(permutations, np.nan)
    for number in range(permutations):
        order = rng.permutation(len(time))
        result = repeated_cv(proportions, time[order], event[order], covariates, n_markers, folds, repeats,
                             seed, penalizer, pooled=False)
        c_values[number], z_values[number] = result.c_index, result.logrank_z
        if on_step is not None:
            on_step()
    return NullDistribution(c_values, z_values)


def verdict(n_events: int, c_index: float, interval: tuple[float, float], permutation_p: float | None,
            alpha: float = ALPHA, min_events: int = MIN_EVENTS) -> tuple[str, list[str]]:
    """``("finding" | "inconclusive", reasons)``: why the held-out prediction is not (yet) a finding."""
    reasons = []
    if n_events < min_events:
        reasons.append(f"only {n_events} events (fewer than {min_events}): too few for a stable estimate")
    if not math.isfinite(c_index):
        reasons.append("no C-index could be computed (no comparable pair in any held-out fold)")
    elif not interval[0] > 0.5:
        reasons.append(f"the C-index interval [{interval[0]:.2f}, {interval[1]:.2f}] does not lie above 0.5")
    if permutation_p is None or not math.isfinite(permutation_p):
        reasons.append("no permutation null was computed (--permutations 0)")
    elif permutation_p >= alpha:
        reasons.append(f"the C-index does not stand out from shuffled outcomes (permutation p = "
                       f"{permutation_p:.3g} >= {alpha})")
    return ("inconclusive" if reasons else "finding"), reasons


def verdict_sentence(kind: str, reasons: list[str]) -> str:
    """The verdict in words, as the CLI and the report print it."""
    if kind == "finding":
        return ("finding: the markers predict survival on held-out slides better than shuffled outcomes do "
                "(confirm on an independent cohort before relying on them)")
    return "inconclusive, not a finding: " + "; ".join(reasons) + ". Treat the markers as hypotheses."
