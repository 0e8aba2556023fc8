"""SEW's Lightning task: the objective, optimiser and validation scores around a :class:`SEWModel`.

Each step runs the global branch, turns node focus into window focus, scores every candidate window of
every slide with the detail branch (their tile features are cached, so this reads nothing) and runs it
once across all of them (its attention ranks windows for the pseudo-labels where a slide has no window
novelty, ``SEWTraining.pseudo_source``), lets the focus predictor
pick the k windows to read (plus a share of random ones in training), and runs the detail branch across
those k, as analysis will. Validation picks as analysis does (no exploration); its scores are gathered across
DDP processes (:class:`~pathfocus.training.validation.EpochScores`).
"""

from __future__ import annotations

import lightning.pytorch as pl
import torch
import torch.nn.functional as F
from torchmetrics.aggregation import MeanMetric

from pathfocus.engines.sew.forward import SEWForward, sew_forward
from pathfocus.engines.sew.reading import SEWReading
from pathfocus.models.sew import DetailOutput, SEWModel
from pathfocus.training.sew.config import SELECTION_METRIC, SEWTraining
from pathfocus.training.sew.data import SlideItem
from pathfocus.training.sew.losses import pseudo_labels, sew_loss
from pathfocus.training.validation import EpochScores


def focus_capture(chosen: torch.Tensor, lesion: torch.Tensor) -> float:
    """The highest detail lesion score among the windows focus chose, over the highest of the slide's
    windows (every window scored from the cache): how much of the strongest lesion evidence the windows
    read hold, without masks. The detail branch learns where the lesion is before focus does. (A
    top-k overlap would punish focus for spreading its windows apart, as reading requires.)"""
    best = float(lesion.detach().max())
    return float(lesion.detach()[chosen.to(lesion.device)].max()) / best if best > 0 else 1.0


class SEWTask(pl.LightningModule):
    """SEW's objective, optimiser and validation metrics around a :class:`SEWModel`."""

    def __init__(
        self, model: SEWModel, reading: SEWReading, training: SEWTraining, class_names: list[str]
    ) -> None:
        super().__init__()
        self.model = model
        self.reading = reading
        self.training_config = training
        self.generator = torch.Generator().manual_seed(training.seed)
        self.val_scores = EpochScores(class_names, losses=("loss", "slide_loss"))
        # logged, not used for selection: whether focus has caught up with the detail branch (docs §8)
        self.val_focus_capture = MeanMetric()

    def window_tokens(self, items: list[SlideItem]) -> list[torch.Tensor]:
        """Tokens of every candidate window of each slide, from its cached tile features."""
        detail = self.model.detail_branch
        sizes = [len(item.graph.windows) for item in items]
        offsets = torch.tensor([0, *sizes[:-1]]).cumsum(0)
        owner = torch.cat(
            [
                torch.from_numpy(item.graph.windows.tile_window) + offset
                for item, offset in zip(items, offsets.tolist(), strict=True)
            ]
        )
        tiles = torch.cat([item.tiles for item in items]).to(self.device)
        return list(detail.windows(tiles, owner.to(self.device), sum(sizes)).split(sizes))

    def every_window(self, tokens: list[torch.Tensor]) -> DetailOutput:
        """The detail branch over every candidate window of each slide (attention MIL on cached features).

        Without window novelty its attention ranks windows for the pseudo-labels. Ranking by the region
        head's own scores does not start: from random weights a lesion is as likely to rank last as
        first, is then labelled normal, and stays there (0 of 5 seeds found the lesions); attention over
        all windows, trained by the slide label, finds them on one split (5 of 5 seeds within 150 steps)
        and not on another with 20 training slides, where novelty does (docs/design.md §4).
        """
        owner = torch.repeat_interleave(
            torch.arange(len(tokens), device=self.device),
            torch.tensor([len(t) for t in tokens], device=self.device),
        )
        return self.model.detail_branch(torch.cat(tokens), owner, len(tokens))

    def _step(
        self, items: list[SlideItem], train: bool
    ) -> tuple[torch.Tensor, dict, SEWForward, list[torch.Tensor] | None]:
        """Loss, its parts, the forward pass and (detail branch in use) every window's lesion score."""
        architecture, training = self.model.architecture, self.training_config
        tokens = self.window_tokens(items) if architecture.uses_detail else []
        out = sew_forward(
            self.model,
            self.reading,
            [item.graph for item in items],
            lambda i, chosen: tokens[i][chosen.to(self.device)],
            training.explore if train else 0.0,
            self.generator,
        )
        labels = torch.tensor([item.target for item in items], device=self.device)
        if out.detail_out is None:
            loss, parts = sew_loss(architecture, training, labels, out.global_out.logits)
            return loss, parts, out, None
        every_window = self.every_window(tokens)  # also scores each window on its own (region head)
        sizes = [len(t) for t in tokens]
        region_logits, lesion = every_window.region_logits.split(sizes), every_window.lesion.split(sizes)
        window_labels = [
            pseudo_labels(
                attention if item.novelty is None else item.novelty.to(self.device),
                item.target, architecture.normal_class, training.pseudo_k, item.window_labels,
            )
            for attention, item in zip(every_window.attention.split(sizes), items, strict=True)
        ]
        loss, parts = sew_loss(
            architecture,
            training,
            labels,
            out.global_out.logits,
            out.detail_out.logits,
            self.model.project_global(out.global_out.cls),
            out.detail_out.cls,
            list(region_logits),
            window_labels,
            out.window_focus,
            list(lesion),
            every_window.logits,
        )
        return loss, parts, out, list(lesion)

    def training_step(self, items: list[SlideItem], batch_idx: int) -> torch.Tensor:
        loss, parts, _, _ = self._step(items, train=True)
        self.log("train_loss", loss, batch_size=len(items), prog_bar=True, on_epoch=True, on_step=False)
        for name, value in parts.items():
            self.log(f"train_{name}", value, batch_size=len(items), on_epoch=True, on_step=False)
        return loss

    def validation_step(self, items: list[SlideItem], batch_idx: int) -> None:
        loss, _, out, lesion = self._step(items, train=False)
        targets = torch.tensor([item.target for item in items], device=self.device)
        if lesion is not None:
            captures = [
                focus_capture(chosen, score)
                for chosen, score, item in zip(out.chosen, lesion, items, strict=True)
                if item.target != self.model.architecture.normal_class
            ]
            self.val_focus_capture.update(sum(captures) / max(len(captures), 1), weight=len(captures))
        # model selection looks at the task itself, the fused prediction: the auxiliary terms (windows,
        # focus, consistency) move on their own and, on a few validation slides, can pick an untrained epoch
        self.val_scores.update(
            torch.softmax(out.logits, dim=1),
            targets,
            loss=loss,
            slide_loss=F.cross_entropy(out.logits, targets),
        )

    def on_validation_epoch_end(self) -> None:
        scores = self.val_scores.compute()
        self.val_scores.reset()
        self.log("val_loss", scores["loss"], prog_bar=True)
        self.log(SELECTION_METRIC, scores["slide_loss"])
        self.log("val_accuracy", scores["accuracy"], prog_bar=True)
        self.log("val_balanced_accuracy", scores["balanced_accuracy"])
        if "auc" in scores:
            self.log("val_auc", scores["auc"])
        capture = self.val_focus_capture.compute()
        self.val_focus_capture.reset()
        if not torch.isnan(capture):
            self.log("val_focus_capture", capture)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        trainable = [p for name, p in self.model.named_parameters() if not name.startswith("encoder.")]
        return torch.optim.AdamW(
            trainable, lr=self.training_config.lr, weight_decay=self.training_config.weight_decay
        )
