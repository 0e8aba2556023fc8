"""The report's figures, drawn from the files a run leaves behind and returned as PNG bytes.

Each function takes data read from disk (predictions table, Lightning CSV log, explain index) and
draws it with matplotlib's Agg backend; nothing here reads or writes files, so the report embeds the
bytes directly and nothing else appears on disk.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

LOSS_HINT = "loss"


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def to_png(figure: Any, dpi: int = 110) -> bytes:
    """Render a matplotlib figure to PNG bytes and close it."""
    plt = _pyplot()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def probability_columns(predictions: pd.DataFrame, class_names: Sequence[str]) -> np.ndarray | None:
    """The N×K probability matrix from ``prob_<class>`` columns, or None when any is missing."""
    columns = [f"prob_{name}" for name in class_names]
    if not set(columns) <= set(predictions.columns):
        return None
    return predictions[columns].to_numpy(dtype=float)


def roc_figure(predictions: pd.DataFrame, class_names: Sequence[str], title: str) -> bytes | None:
    """ROC curves from a predictions table (``true`` class index, ``prob_<class>`` columns).

    Two classes: the curve of the second (positive) class; more: one-vs-rest per class present.
    None when the table lacks the columns or holds a single true class (ROC undefined).
    """
    from sklearn.metrics import auc, roc_curve

    probabilities = probability_columns(predictions, class_names)
    if probabilities is None or "true" not in predictions.columns:
        return None
    truth = predictions["true"].to_numpy(dtype=int)
    if np.unique(truth).size < 2:
        return None
    classes = [1] if len(class_names) == 2 else [k for k in range(len(class_names)) if k in set(truth)]
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(4.6, 4.2))
    for k in classes:
        fpr, tpr, _ = roc_curve(truth == k, probabilities[:, k])
        axis.plot(fpr, tpr, lw=1.8, label=f"{class_names[k]} (AUC {auc(fpr, tpr):.3f})")
    axis.plot([0, 1], [0, 1], ls="--", color="0.6", lw=1)
    axis.set(xlabel="false positive rate", ylabel="true positive rate", title=title,
             xlim=(0, 1), ylim=(0, 1.01))
    axis.legend(loc="lower right", fontsize=8)
    return to_png(figure)


def epoch_table(log: pd.DataFrame) -> pd.DataFrame:
    """Lightning's sparse CSV log (one row per logging call) -> one row per epoch, last value of each
    metric; per-step columns are dropped when their per-epoch counterpart exists."""
    if "epoch" not in log.columns:
        return pd.DataFrame()
    numeric = log.drop(columns=[c for c in ("step",) if c in log.columns])
    numeric = numeric.apply(pd.to_numeric, errors="coerce")
    numeric = numeric.dropna(subset=["epoch"])
    keep = [c for c in numeric.columns if c != "epoch" and not (c.endswith("_step")
                                                                and f"{c[:-5]}_epoch" in numeric.columns)]
    per_epoch = numeric.groupby("epoch")[keep].last()
    return per_epoch.dropna(axis=1, how="all")


def training_figure(log: pd.DataFrame, title: str) -> bytes | None:
    """Loss curves and the other logged metrics against epoch (None when fewer than one epoch logged)."""
    table = epoch_table(log)
    if table.empty:
        return None
    losses = [c for c in table.columns if LOSS_HINT in c]
    others = [c for c in table.columns if c not in losses]
    panels = [group for group in (losses, others) if group]
    plt = _pyplot()
    figure, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 3.6), squeeze=False)
    for axis, columns, ylabel in zip(axes[0], panels, ("loss" if losses else "value", "value"), strict=False):
        for column in columns:
            series = table[column].dropna()
            axis.plot(series.index, series.to_numpy(), marker="o", ms=3, lw=1.5, label=column)
        axis.set(xlabel="epoch", ylabel=ylabel)
        axis.legend(fontsize=8)
        axis.grid(alpha=0.3)
    figure.suptitle(title)
    return to_png(figure)


def localisation_figure(models: Mapping[str, Mapping[str, Any]]) -> bytes | None:
    """Bars of the mean Grad-CAM energy share inside the masks per model, with the uniform-map level."""
    names = [n for n, s in models.items() if s.get("energy_share_mean") is not None]
    if not names:
        return None
    shares = [float(models[n]["energy_share_mean"]) for n in names]
    spreads = [float(models[n].get("energy_share_std") or 0.0) for n in names]
    chance = [float(models[n].get("mask_fraction_mean") or 0.0) for n in names]
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(1.4 + 1.2 * len(names), 3.4))
    positions = np.arange(len(names))
    axis.bar(positions, shares, yerr=spreads, capsize=4, color="#4c72b0", label="energy share in mask")
    axis.scatter(positions, chance, marker="_", s=900, color="#dd8452", label="uniform map", zorder=3)
    axis.set_xticks(positions, names)
    axis.set(ylim=(0, 1), ylabel="share of Grad-CAM energy")
    axis.legend(fontsize=8, loc="upper right")
    return to_png(figure)


def confusion_figure(matrix: Sequence[Sequence[int]], class_names: Sequence[str], title: str) -> bytes:
    """The training code's confusion-matrix figure (for runs whose PNG is missing), as PNG bytes."""
    import tempfile
    from pathlib import Path

    from pathfocus.metrics import plot_confusion_matrix

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "confusion_matrix.png"
        plot_confusion_matrix(matrix, class_names, path, title=title)
        return path.read_bytes()
