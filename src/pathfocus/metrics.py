"""Classification metrics shared by patch and slide runs, and the confusion-matrix figure.

Computed with scikit-learn from stored predictions so every number in ``metrics.json`` can be
recomputed from ``predictions.csv`` by anyone.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    confusion_matrix,
    f1_score,
    roc_auc_score,
)


def classification_metrics(
    y_true: Sequence[int] | np.ndarray, probabilities: np.ndarray, class_names: Sequence[str]
) -> dict[str, Any]:
    """Accuracy, balanced accuracy, macro F1, AUC and the confusion matrix.

    AUC is the ROC AUC of the positive class for two classes and the one-vs-rest macro AUC for more;
    it is ``None`` when the true labels hold a single class (AUC is undefined then, not 0.5).
    """
    y = np.asarray(y_true, dtype=int)
    probs = np.asarray(probabilities, dtype=float)
    labels = list(range(len(class_names)))
    predicted = probs.argmax(axis=1)
    return {
        "accuracy": float(accuracy_score(y, predicted)),
        "balanced_accuracy": float(balanced_accuracy_score(y, predicted)),
        "macro_f1": float(f1_score(y, predicted, labels=labels, average="macro", zero_division=0)),
        "auc": roc_auc(y, probs),
        "confusion_matrix": confusion_matrix(y, predicted, labels=labels).tolist(),
        "class_names": list(class_names),
    }


def roc_auc(y_true: np.ndarray, probabilities: np.ndarray) -> float | None:
    """Binary AUC of class 1, or one-vs-rest macro AUC over the classes present in ``y_true``."""
    present = np.unique(y_true)
    if present.size < 2:
        return None
    if probabilities.shape[1] == 2:
        return float(roc_auc_score(y_true, probabilities[:, 1]))
    scores = [roc_auc_score(y_true == k, probabilities[:, k]) for k in present]
    return float(np.mean(scores))


def plot_confusion_matrix(matrix: Sequence[Sequence[int]], class_names: Sequence[str],
                          path: str | os.PathLike[str], title: str = "Confusion matrix") -> None:
    """Save a confusion-matrix heatmap with counts in the cells (atomic write)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pathfocus.fileio import save_figure

    counts = np.asarray(matrix)
    size = 1.2 + 0.55 * len(class_names)
    figure, axis = plt.subplots(figsize=(size + 1.5, size))
    image = axis.imshow(counts, cmap="Blues")
    axis.set_xticks(range(len(class_names)), class_names, rotation=45, ha="right")
    axis.set_yticks(range(len(class_names)), class_names)
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    axis.set_title(title)
    threshold = counts.max() / 2 if counts.size else 0
    for (row, col), value in np.ndenumerate(counts):
        axis.text(col, row, str(value), ha="center", va="center",
                  color="white" if value > threshold else "black")
    figure.colorbar(image, ax=axis, fraction=0.046)
    save_figure(path, figure)
    plt.close(figure)


def bootstrap_mean_auc(y_true: Sequence[int] | np.ndarray, scores_by_seed: Sequence[np.ndarray],
                       repeats: int = 2000, seed: int = 0, level: float = 0.95) -> tuple[float, float, float]:
    """Mean AUC over seeds and its bootstrap interval over the slides.

    ``scores_by_seed``: per seed (run), each slide's probability of the positive class, the slides in the
    order of ``y_true``. Each bootstrap replicate resamples slides with replacement within each class (so
    both classes stay), scores every seed on the same resample and averages; the interval is the
    replicates' central ``level`` percentiles. Returns (mean AUC, low, high).
    """
    y = np.asarray(y_true, dtype=int)
    scores = [np.asarray(s, dtype=float) for s in scores_by_seed]
    mean = float(np.mean([roc_auc_score(y, s) for s in scores]))
    rng = np.random.default_rng(seed)
    negatives, positives = np.flatnonzero(y == 0), np.flatnonzero(y == 1)
    index = np.concatenate([rng.choice(negatives, size=(repeats, len(negatives))),
                            rng.choice(positives, size=(repeats, len(positives)))], axis=1)
    replicates = np.mean([_rank_auc(s[index], len(negatives)) for s in scores], axis=0)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(replicates, [tail, 100 - tail])
    return mean, float(low), float(high)


def _rank_auc(scores: np.ndarray, n_negatives: int) -> np.ndarray:
    """AUC of each row of ``scores`` whose first ``n_negatives`` columns are negatives (Mann-Whitney U,
    ties counted half), vectorised over rows."""
    from scipy.stats import rankdata

    ranks = rankdata(scores, axis=1)
    n_positives = scores.shape[1] - n_negatives
    positive_ranks = ranks[:, n_negatives:].sum(axis=1)
    return (positive_ranks - n_positives * (n_positives + 1) / 2) / (n_positives * n_negatives)
