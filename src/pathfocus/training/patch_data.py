"""The patch DataModule: one fold of a BreakHis-style index, filtered by magnification and task.

It joins ``index.csv`` (what each image is) with ``splits.csv`` (which subset it is in for each fold),
so the same two files drive training, evaluation and the report without re-walking the folders.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader

from pathfocus.data.breakhis import class_names, encode_labels, read_index
from pathfocus.data.patches import PatchDataset, eval_transforms, train_transforms
from pathfocus.errors import InputError

log = logging.getLogger(__name__)
MAGNIFICATIONS = ("40", "100", "200", "400", "all")
TASKS = ("binary", "subtype")


@dataclass
class PatchDataConfig:
    """Which images to use and how to load them."""

    index: str
    splits: str
    fold: int = 1
    magnification: str = "all"
    task: str = "binary"
    image_size: int = 224
    batch_size: int = 32
    workers: int = 2

    def __post_init__(self) -> None:
        if self.magnification not in MAGNIFICATIONS:
            msg = f"--magnification must be one of {', '.join(MAGNIFICATIONS)}, not {self.magnification!r}"
            raise InputError(msg)
        if self.task not in TASKS:
            msg = f"--task must be binary or subtype, not {self.task!r}"
            raise InputError(msg)


def fold_table(config: PatchDataConfig) -> pd.DataFrame:
    """Index rows of the chosen fold and magnification, with their ``subset`` (train|val|test)."""
    index = read_index(config.index)
    splits_path = Path(config.splits)
    if not splits_path.is_file():
        msg = f"splits file {splits_path} does not exist; make one with `pathfocus split INDEX --out SPLITS`"
        raise InputError(msg)
    splits = pd.read_csv(splits_path, dtype={"path": str})
    missing = {"path", "fold", "subset"} - set(splits.columns)
    if missing:
        msg = f"{splits_path} lacks columns {sorted(missing)}; it must come from `pathfocus split`"
        raise InputError(msg)
    fold = splits[splits["fold"] == config.fold]
    if fold.empty:
        msg = f"fold {config.fold} is not in {splits_path} (folds there: {sorted(splits['fold'].unique())})"
        raise InputError(msg)
    table = index.merge(fold[["path", "subset"]], on="path", how="inner")
    if config.magnification != "all":
        table = table[table["magnification"].astype(int) == int(config.magnification)]
    if table.empty:
        msg = f"no images of magnification {config.magnification} in fold {config.fold} of {splits_path}"
        raise InputError(msg)
    return table.reset_index(drop=True)


class PatchDataModule(pl.LightningDataModule):
    """Train/val/test loaders for one fold; unreadable images are skipped and counted in ``skipped``."""

    def __init__(self, config: PatchDataConfig) -> None:
        super().__init__()
        self.config = config
        self.class_names = class_names(config.task)
        self.table = fold_table(config)
        self.datasets: dict[str, PatchDataset] = {}

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        for subset in ("train", "val", "test"):
            rows = self.table[self.table["subset"] == subset]
            if rows.empty:
                msg = f"fold {self.config.fold} has no {subset} images; re-make the splits with more patients"
                raise InputError(msg)
            transform = train_transforms if subset == "train" else eval_transforms
            self.datasets[subset] = PatchDataset(rows["path"].tolist(), encode_labels(rows, self.config.task),
                                                 transform(self.config.image_size))

    @property
    def skipped(self) -> list[str]:
        return [os.fspath(path) for dataset in self.datasets.values() for path in dataset.skipped]

    def class_weights(self) -> torch.Tensor:
        """Inverse-frequency weights over the training labels (classes absent from train get weight 0)."""
        counts = np.bincount(self.datasets["train"].labels, minlength=len(self.class_names)).astype(float)
        weights = np.divide(counts.sum(), len(counts) * counts, out=np.zeros_like(counts), where=counts > 0)
        return torch.tensor(weights, dtype=torch.float32)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)

    def _loader(self, subset: str, shuffle: bool) -> DataLoader:
        workers = self.config.workers
        dataset = self.datasets[subset]
        # NOTE: a last training batch of one image breaks BatchNorm in MFDF on tiny feature maps.
        drop_last = shuffle and len(dataset) % self.config.batch_size == 1
        return DataLoader(dataset, batch_size=self.config.batch_size, shuffle=shuffle,
                          num_workers=workers, persistent_workers=workers > 0,
                          pin_memory=torch.cuda.is_available(), drop_last=drop_last)
