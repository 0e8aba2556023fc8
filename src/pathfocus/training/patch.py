"""The Lightning task for patch classification: loss, metrics and optimiser around a plain model.

The model (KFDE, an ablation or a baseline CNN) stays a pure nn.Module; this wrapper owns class-weighted
cross-entropy, AdamW with a cosine schedule, and the accuracy it logs for early stopping.
"""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
import torch
from torch import nn
from torch.nn import functional as F


class PatchClassifierTask(pl.LightningModule):
    """Train ``model`` with class-weighted cross-entropy; ``val_loss``/``val_acc`` drive early stopping."""

    def __init__(
        self,
        model: nn.Module,
        class_weights: torch.Tensor | None = None,
        lr: float = 1e-3,
        weight_decay: float = 0.05,
        max_epochs: int = 10,
    ) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("class_weights", class_weights if class_weights is not None else torch.empty(0))
        self.lr = lr
        self.weight_decay = weight_decay
        self.max_epochs = max_epochs

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model(images)

    def _step(self, batch: tuple[torch.Tensor, torch.Tensor], stage: str) -> torch.Tensor:
        images, labels = batch
        logits = self.model(images)
        weight = self.class_weights if self.class_weights.numel() else None
        loss = F.cross_entropy(logits, labels, weight=weight)
        accuracy = (logits.argmax(dim=1) == labels).float().mean()
        on_step = stage == "train"
        self.log(
            f"{stage}_loss",
            loss,
            prog_bar=True,
            on_step=on_step,
            on_epoch=True,
            batch_size=len(labels),
            sync_dist=not on_step,
        )
        self.log(
            f"{stage}_acc",
            accuracy,
            prog_bar=True,
            on_step=False,
            on_epoch=True,
            batch_size=len(labels),
            sync_dist=True,
        )
        return loss

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._step(batch, "val")

    def configure_optimizers(self) -> dict:
        optimizer = torch.optim.AdamW(self.model.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, self.max_epochs))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"}}


class BestWeights(pl.Callback):
    """Keep an in-memory copy of the model weights at the best validation score.

    The run folder's ``model.safetensors`` is written from this copy, so the final weights never have to
    be read back from a pickled Lightning checkpoint.
    """

    def __init__(self, monitor: str = "val_loss", mode: str = "min") -> None:
        self.monitor = monitor
        self.sign = 1.0 if mode == "min" else -1.0
        self.best_score: float | None = None
        self.best_epoch: int | None = None
        self.state: dict[str, torch.Tensor] | None = None
        self.best_metrics: dict[str, float] = {}

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or self.monitor not in trainer.callback_metrics:
            return
        score = float(trainer.callback_metrics[self.monitor])
        if self.best_score is None or self.sign * score < self.sign * self.best_score:
            self.best_score = score
            self.best_epoch = trainer.current_epoch
            model = pl_module.model if hasattr(pl_module, "model") else pl_module
            self.state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
            self.best_metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1}

    def state_dict(self) -> dict[str, Any]:
        """Saved in Lightning's checkpoints: ``--resume`` keeps the best epoch from before the restart."""
        return {"best_score": self.best_score, "best_epoch": self.best_epoch, "state": self.state,
                "best_metrics": self.best_metrics}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.best_score = state_dict["best_score"]
        self.best_epoch = state_dict["best_epoch"]
        self.state = state_dict["state"]
        self.best_metrics = state_dict["best_metrics"]
