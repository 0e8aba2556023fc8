"""The one way every task keeps its best weights: an in-memory copy at the best validation score.

The run folder's ``model.safetensors`` is written from this copy, so final weights never have to be read
back from a pickled Lightning checkpoint; its state travels in ``last.ckpt`` so ``--resume`` keeps the best
epoch from before the restart.
"""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
import torch


class BestWeights(pl.Callback):
    """Copy ``pl_module.model``'s weights whenever ``monitor`` improves (``mode`` min or max)."""

    def __init__(self, monitor: str = "val_loss", mode: str = "min") -> None:
        self.monitor = monitor
        self.sign = 1.0 if mode == "min" else -1.0
        self.best_score: float | None = None
        self.best_epoch: int | None = None
        self.state: dict[str, torch.Tensor] | None = None
        self.best_metrics: dict[str, float] = {}
        self.candidate: dict[str, torch.Tensor] | None = None

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # Lightning runs callbacks' epoch-end hooks *before* the module's, where the tasks log their
        # validation scores: so the weights just validated are copied here (with weight averaging they are
        # the averaged ones, swapped back right after) and judged in on_validation_end, once the scores of
        # this epoch, not the last, are in callback_metrics
        if trainer.sanity_checking:
            return
        model = pl_module.model if hasattr(pl_module, "model") else pl_module
        self.candidate = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        candidate, self.candidate = self.candidate, None
        if trainer.sanity_checking or candidate is None or self.monitor not in trainer.callback_metrics:
            return
        score = float(trainer.callback_metrics[self.monitor])
        if self.best_score is None or self.sign * score < self.sign * self.best_score:
            self.best_score = score
            self.best_epoch = trainer.current_epoch
            self.state = candidate
            self.best_metrics = {k: float(v) for k, v in trainer.callback_metrics.items()
                                 if k.startswith("val") and v.numel() == 1}

    def restore(self, model: torch.nn.Module) -> None:
        """Load the best weights into ``model`` (a no-op when validation never ran)."""
        if self.state is not None:
            model.load_state_dict(self.state)

    def state_dict(self) -> dict[str, Any]:
        return {"best_score": self.best_score, "best_epoch": self.best_epoch, "state": self.state,
                "best_metrics": self.best_metrics}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.best_score = state_dict["best_score"]
        self.best_epoch = state_dict["best_epoch"]
        self.state = state_dict["state"]
        self.best_metrics = state_dict["best_metrics"]
