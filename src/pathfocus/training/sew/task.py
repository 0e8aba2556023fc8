"""SEW's Lightning task: the objective, optimiser and validation scores around a :class:`SEWModel`.

Each step runs the global branch, lets the focus predictor pick the windows to read (plus a share of
random ones in training, so the focus predictor sees regions it would not pick), recalls them through the
:class:`~pathfocus.training.sew.data.DetailCache`, and runs the detail branch. Validation scores are
gathered across DDP processes (:class:`~pathfocus.training.validation.EpochScores`).
"""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
import torch
import torch.nn.functional as F

from pathfocus.engines.sew.forward import sew_forward
from pathfocus.engines.sew.reading import SEWReading
from pathfocus.models.sew import SEWModel
from pathfocus.training.sew.config import SELECTION_METRIC, SEWTraining
from pathfocus.training.sew.data import DetailCache, SlideBatch
from pathfocus.training.sew.losses import sew_loss
from pathfocus.training.validation import EpochScores


class SEWTask(pl.LightningModule):
    """SEW's objective, optimiser and validation metrics around a :class:`SEWModel`."""

    def __init__(self, model: SEWModel, reading: SEWReading, training: SEWTraining, details: DetailCache,
                 class_names: list[str]) -> None:
        super().__init__()
        self.model = model
        self.reading = reading
        self.training_config = training
        self.details = details
        self.generator = torch.Generator().manual_seed(training.seed)
        self.val_scores = EpochScores(class_names, losses=("loss", "slide_loss"))

    def _step(self, batch: SlideBatch,
              train: bool) -> tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor]:
        architecture, training = self.model.architecture, self.training_config

        def fetch(i: int, region: Any) -> Any:
            return self.details.get(batch.paths[i], batch.graphs[i], region)

        out = sew_forward(self.model, self.reading, batch.graphs, fetch, training.explore if train else 0.0,
                          self.generator, batch.pools)
        labels = batch.targets.to(self.device)
        detail = out.detail_out
        if detail is None:
            loss, parts = sew_loss(architecture, training, labels, out.global_out.logits)
            return loss, parts, out.logits
        counts = torch.tensor([len(d) for d in out.details], device=self.device)
        region_slide = torch.repeat_interleave(torch.arange(len(batch), device=self.device), counts)
        loss, parts = sew_loss(
            architecture, training, labels, out.global_out.logits, detail.logits,
            self.model.project_global(out.global_out.cls), detail.cls, out.visited_focus, detail.lesion,
            detail.region_logits, region_slide)
        return loss, parts, out.logits

    def training_step(self, batch: SlideBatch, batch_idx: int) -> torch.Tensor:
        loss, parts, _ = self._step(batch, train=True)
        self.log("train_loss", loss, batch_size=len(batch), prog_bar=True, on_epoch=True, on_step=False)
        for name, value in parts.items():
            self.log(f"train_{name}", value, batch_size=len(batch), on_epoch=True, on_step=False)
        return loss

    def validation_step(self, batch: SlideBatch, batch_idx: int) -> None:
        loss, _, logits = self._step(batch, train=False)
        targets = batch.targets.to(self.device)
        # model selection looks at the task itself, the fused prediction: the auxiliary terms (regions,
        # focus, consistency) move on their own and, on a few validation slides, can pick an untrained epoch
        self.val_scores.update(torch.softmax(logits, dim=1), targets, loss=loss,
                               slide_loss=F.cross_entropy(logits, targets))

    def on_validation_epoch_end(self) -> None:
        scores = self.val_scores.compute()
        self.val_scores.reset()
        self.log("val_loss", scores["loss"], prog_bar=True)
        self.log(SELECTION_METRIC, scores["slide_loss"])
        self.log("val_accuracy", scores["accuracy"], prog_bar=True)
        self.log("val_balanced_accuracy", scores["balanced_accuracy"])
        if "auc" in scores:
            self.log("val_auc", scores["auc"])

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.AdamW(self.model.parameters(), lr=self.training_config.lr,
                                 weight_decay=self.training_config.weight_decay)
