"""The exhaustive baseline's Lightning data and task: cached bags of tile features, an attention-MIL head.

The encoder is frozen, so a slide's features never change while the head trains: the DataModule encodes
the cohort once into the tile-feature cache (each DDP process its own share, see
:func:`pathfocus.engines.tile_cache.encode_cohort`), then epochs run on in-memory bags, one slide per step.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import lightning.pytorch as pl
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset

from pathfocus.data.slide_labels import SUBSETS
from pathfocus.engines.tile_cache import TileFeatureCache, encode_cohort
from pathfocus.errors import InputError
from pathfocus.models.mil import GatedAttentionMIL
from pathfocus.training.samplers import loader
from pathfocus.training.validation import EpochScores

log = logging.getLogger(__name__)


@dataclass
class Bag:
    """One slide's cached tile features and its label index."""

    slide_id: str
    features: torch.Tensor  # (N, D) float32
    coords: torch.Tensor  # (N, 2) int64, level-0 top-left (x, y)
    label: int


class BagDataset(Dataset):
    """In-memory bags; ``max_instances`` draws a random subset of tiles per access (training only)."""

    def __init__(self, bags: list[Bag], max_instances: int | None = None, seed: int = 0) -> None:
        self.bags = bags
        self.max_instances = max_instances
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return len(self.bags)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        bag = self.bags[index]
        features = bag.features
        if self.max_instances is not None and len(features) > self.max_instances:
            chosen = torch.randperm(len(features), generator=self.generator)[: self.max_instances]
            features = features[chosen]
        return features, torch.tensor(bag.label)


class BagDataModule(pl.LightningDataModule):
    """Train/val/test bags of a labelled cohort, encoded into ``cache`` when :meth:`setup` first runs."""

    def __init__(self, table: pd.DataFrame, class_names: list[str], cache: TileFeatureCache,
                 max_train_instances: int | None, seed: int, progress: bool = True) -> None:
        super().__init__()
        self.table = table  # slide_id, path, label, subset
        self.class_names = class_names
        self.cache = cache
        self.max_train_instances = max_train_instances
        self.seed = seed
        self.progress = progress
        self.subsets: dict[str, list[Bag]] = {}
        self.skipped: list[dict[str, str]] = []
        self.feature_seconds = 0.0

    def setup(self, stage: str | None = None) -> None:
        if self.subsets:
            return
        from rich.progress import Progress

        started = time.perf_counter()
        trainer = self.trainer
        rank, world = (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)
        slides = [(str(row.slide_id), str(row.path)) for row in self.table.itertuples(index=False)]
        with Progress(disable=not self.progress or rank != 0, transient=True) as bar:
            task = bar.add_task("tile features", total=len(slides[rank::world]))
            found, self.skipped = encode_cohort(
                self.cache, slides, rank, world, barrier=trainer.strategy.barrier if trainer else None,
                on_slide=lambda: bar.advance(task))
        self.feature_seconds = time.perf_counter() - started
        label_of = dict(zip(self.table["slide_id"].astype(str), self.table["label"].astype(str), strict=True))
        subset_of = dict(zip(self.table["slide_id"].astype(str), self.table["subset"], strict=True))
        bags = [Bag(f.slide_id, f.features, f.coords, self.class_names.index(label_of[f.slide_id]))
                for f in found]
        self.subsets = {name: [bag for bag in bags if subset_of[bag.slide_id] == name] for name in SUBSETS}
        if not self.subsets["train"] or not self.subsets["val"]:
            msg = (f"the splits leave {len(self.subsets['train'])} train and {len(self.subsets['val'])} val "
                   "slides with tissue; the MIL baseline needs both (add slides or pass --splits)")
            raise InputError(msg)

    def train_dataloader(self) -> DataLoader:
        dataset = BagDataset(self.subsets["train"], self.max_train_instances, self.seed)
        return loader(dataset, self.trainer, train=True, seed=self.seed, batch_size=1)

    def val_dataloader(self) -> DataLoader:
        return loader(BagDataset(self.subsets["val"]), self.trainer, train=False, batch_size=1)


class MILTask(pl.LightningModule):
    """Cross-entropy on slide logits of the gated-attention head (the encoder is not part of training)."""

    def __init__(self, model: GatedAttentionMIL, class_names: list[str], lr: float,
                 weight_decay: float) -> None:
        super().__init__()
        self.model = model
        self.lr = lr
        self.weight_decay = weight_decay
        self.val_scores = EpochScores(class_names)

    def _forward(self, batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        features, label = batch
        logits = self.model(features[0]).logits.unsqueeze(0)
        return logits, torch.nn.functional.cross_entropy(logits, label)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_index: int) -> torch.Tensor:
        logits, loss = self._forward(batch)
        correct = (logits.argmax(dim=1) == batch[1]).float().mean()
        self.log("train_loss", loss, on_epoch=True, on_step=False, batch_size=1, prog_bar=True)
        self.log("train_acc", correct, on_epoch=True, on_step=False, batch_size=1)
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_index: int) -> None:
        logits, loss = self._forward(batch)
        self.val_scores.update(torch.softmax(logits, dim=1), batch[1], loss=loss)

    def on_validation_epoch_end(self) -> None:
        scores = self.val_scores.compute()
        self.val_scores.reset()
        self.log("val_loss", scores["loss"], prog_bar=True)
        self.log("val_acc", scores["accuracy"], prog_bar=True)
        if "auc" in scores:
            self.log("val_auc", scores["auc"])

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.AdamW(self.model.parameters(), lr=self.lr, weight_decay=self.weight_decay)
