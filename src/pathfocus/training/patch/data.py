"""The patch DataModule: one fold of a BreakHis-style index, filtered by magnification and task.

It joins ``index.csv`` (what each image is) with ``splits.csv`` (which subset it is in for each fold),
so the same two files drive training, evaluation and the report without re-walking the folders. Images
are normalised the way the model's backbone expects (its :class:`~pathfocus.models.backbones.DataConfig`).
"""

from __future__ import annotations

import logging
import os

import lightning.pytorch as pl
import numpy as np
import torch
from torch.utils.data import DataLoader

from pathfocus.data.breakhis import class_names, encode_labels
from pathfocus.data.breakhis_splits import fold_table
from pathfocus.data.patches import PatchDataset, eval_transforms, train_transforms
from pathfocus.errors import InputError
from pathfocus.models.backbones import DataConfig
from pathfocus.training.patch.config import PatchDataConfig
from pathfocus.training.samplers import loader

log = logging.getLogger(__name__)
class PatchDataModule(pl.LightningDataModule):
    """Train/val/test loaders for one fold; unreadable images are skipped and counted in ``skipped``."""

    def __init__(self, config: PatchDataConfig, data_config: DataConfig, seed: int = 0) -> None:
        super().__init__()
        self.config = config
        self.data_config = data_config
        self.seed = seed
        if not config.index or not config.splits:
            msg = ("patch training needs --index index.csv and --splits splits.csv (or data.index and "
                   "data.splits in --config)")
            raise InputError(msg)
        self.class_names = class_names(config.task)
        self.table = fold_table(config.index, config.splits, config.fold, config.magnification)
        self.datasets: dict[str, PatchDataset] = {}

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        size, mean, std = self.data_config.input_size, self.data_config.mean, self.data_config.std
        for subset in ("train", "val", "test"):
            rows = self.table[self.table["subset"] == subset]
            if rows.empty:
                msg = f"fold {self.config.fold} has no {subset} images; re-make the splits with more patients"
                raise InputError(msg)
            transform = (train_transforms if subset == "train" else eval_transforms)(size, mean, std)
            self.datasets[subset] = PatchDataset(rows["path"].tolist(), encode_labels(rows, self.config.task),
                                                 transform)

    @property
    def skipped(self) -> list[str]:
        return [os.fspath(path) for dataset in self.datasets.values() for path in dataset.skipped]

    def class_weights(self) -> torch.Tensor:
        """Inverse-frequency weights over the training labels (classes absent from train get weight 0)."""
        counts = np.bincount(self.datasets["train"].labels, minlength=len(self.class_names)).astype(float)
        weights = np.divide(counts.sum(), len(counts) * counts, out=np.zeros_like(counts), where=counts > 0)
        return torch.tensor(weights, dtype=torch.float32)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", train=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", train=False)

    def _loader(self, subset: str, train: bool) -> DataLoader:
        workers = self.config.loader_workers
        dataset = self.datasets[subset]
        # NOTE: a last training batch of one image breaks BatchNorm in MFDF on tiny feature maps.
        drop_last = train and len(dataset) % self.config.batch_size == 1
        return loader(dataset, self.trainer, train, self.seed, batch_size=self.config.batch_size,
                      num_workers=workers, persistent_workers=workers > 0,
                      pin_memory=torch.cuda.is_available(), drop_last=drop_last)
