"""The Lightning task for patch classification: loss, metrics and optimiser around a plain model.

The model (KFDE, an ablation or a baseline CNN) stays a pure nn.Module; this wrapper owns class-weighted
cross-entropy, AdamW with a cosine schedule, and the validation scores (gathered across DDP processes)
that early stopping and best-weight keeping watch.
"""

from __future__ import annotations

import lightning.pytorch as pl
import torch
from torch import nn
from torch.nn import functional as F

from pathfocus.training.validation import EpochScores


class PatchClassifierTask(pl.LightningModule):
    """Train ``model`` with class-weighted cross-entropy; logs ``val_loss``, ``val_acc``, ``val_auc``."""

    def __init__(self, model: nn.Module, class_names: list[str], class_weights: torch.Tensor | None = None,
                 lr: float = 1e-3, weight_decay: float = 0.05, max_epochs: int = 10) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("class_weights", class_weights if class_weights is not None else torch.empty(0))
        self.lr = lr
        self.weight_decay = weight_decay
        self.max_epochs = max_epochs
        self.val_scores = EpochScores(class_names)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model(images)

    def _loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        weight = self.class_weights if self.class_weights.numel() else None
        return F.cross_entropy(logits, labels, weight=weight)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        images, labels = batch
        logits = self.model(images)
        loss = self._loss(logits, labels)
        accuracy = (logits.argmax(dim=1) == labels).float().mean()
        self.log("train_loss", loss, prog_bar=True, on_step=True, on_epoch=True, batch_size=len(labels))
        self.log("train_acc", accuracy, on_step=False, on_epoch=True, batch_size=len(labels))
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        images, labels = batch
        logits = self.model(images)
        self.val_scores.update(torch.softmax(logits, dim=1), labels, loss=self._loss(logits, labels))

    def on_validation_epoch_end(self) -> None:
        scores = self.val_scores.compute()
        self.val_scores.reset()
        self.log("val_loss", scores["loss"], prog_bar=True)
        self.log("val_acc", scores["accuracy"], prog_bar=True)
        if "auc" in scores:
            self.log("val_auc", scores["auc"])

    def configure_optimizers(self) -> dict:
        optimizer = torch.optim.AdamW(self.model.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, self.max_epochs))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"}}
