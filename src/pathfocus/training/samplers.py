"""Data loaders that split work across DDP processes without repeating validation samples.

Lightning's default distributed sampler pads every process to the same number of samples by repeating
some, which counts those samples twice in validation scores. Training keeps the usual
``DistributedSampler`` (equal step counts keep DDP in lockstep); validation uses Lightning's
``UnrepeatedDistributedSampler``, so the gathered predictions are exactly the validation split.
"""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.overrides.distributed import UnrepeatedDistributedSampler
from torch.utils.data import DataLoader, Dataset, DistributedSampler


def loader(dataset: Dataset, trainer: pl.Trainer | None, train: bool, seed: int = 0,
           **options: Any) -> DataLoader:
    """A DataLoader for ``dataset``; under DDP each process gets its share (shuffled when ``train``)."""
    world = trainer.world_size if trainer is not None else 1
    if world <= 1:
        generator = torch.Generator().manual_seed(seed) if train else None
        return DataLoader(dataset, shuffle=train, generator=generator, **options)
    rank = trainer.global_rank
    sampler = (DistributedSampler(dataset, num_replicas=world, rank=rank, shuffle=True, seed=seed) if train
               else UnrepeatedDistributedSampler(dataset, num_replicas=world, rank=rank, shuffle=False))
    return DataLoader(dataset, sampler=sampler, **options)
