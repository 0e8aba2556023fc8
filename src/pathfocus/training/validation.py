"""Validation scores that are the same on one process or many (DDP).

Each process sees a share of the validation data. Predictions and targets are gathered across processes
(torchmetrics ``CatMetric``) and scored together with :func:`pathfocus.metrics.classification_metrics`,
and losses are averaged weighted by sample counts (``MeanMetric``), so every process logs the numbers a
single process would compute on the whole validation split; model selection and early stopping agree.
"""

from __future__ import annotations

import torch
from torch import nn
from torchmetrics.aggregation import CatMetric, MeanMetric

from pathfocus.metrics import classification_metrics


class EpochScores(nn.Module):
    """Accumulates one epoch's class probabilities, targets and named losses; ``compute`` scores them."""

    def __init__(self, class_names: list[str], losses: tuple[str, ...] = ("loss",)) -> None:
        super().__init__()
        self.class_names = list(class_names)
        self.probabilities = CatMetric()
        self.targets = CatMetric()
        self.losses = nn.ModuleDict({name: MeanMetric() for name in losses})

    def update(self, probabilities: torch.Tensor, targets: torch.Tensor, **losses: torch.Tensor) -> None:
        """One batch: probabilities (B x C), integer targets (B) and each loss as the batch mean."""
        count = float(len(targets))
        self.probabilities.update(probabilities.detach().float())
        self.targets.update(targets.detach().float())
        for name, value in losses.items():
            self.losses[name].update(value.detach().float(), weight=count)

    def compute(self) -> dict[str, float]:
        """Accuracy, balanced accuracy, macro F1, AUC (when defined) and the mean losses, gathered."""
        probabilities = self.probabilities.compute().reshape(-1, len(self.class_names)).cpu().numpy()
        targets = self.targets.compute().reshape(-1).long().cpu().numpy()
        scores = classification_metrics(targets, probabilities, self.class_names)
        result = {name: float(scores[name]) for name in ("accuracy", "balanced_accuracy", "macro_f1")}
        if scores["auc"] is not None:
            result["auc"] = float(scores["auc"])
        result.update({name: float(metric.compute()) for name, metric in self.losses.items()})
        return result

    def reset(self) -> None:
        self.probabilities.reset()
        self.targets.reset()
        for metric in self.losses.values():
            metric.reset()
