"""What ``train mil`` is told, one section per concern; the run folder records it resolved.

``slides`` (which cohort and split), ``encoder`` (the frozen tile encoder, shared with SEW), ``ssl`` (how
the default encoder is pretrained), ``tiles`` (which tiles are read and how: the reading part is hashed
into the feature cache key), ``head`` (the attention-MIL head) and ``training``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pathfocus.engines.tile_settings import TileSettings
from pathfocus.errors import InputError
from pathfocus.models.backbones import TileEncoderSpec
from pathfocus.training.encoder.config import SSLSettings
from pathfocus.training.options import SlideCohort, TrainerOptions


@dataclass
class MILHead:
    """Widths of the gated-attention head (Ilse et al., 2018)."""

    hidden_dim: int = 128
    attention_dim: int = 64
    dropout: float = 0.25


@dataclass
class MILTraining:
    """Epochs, early stopping on validation loss, optimiser, and the per-bag subsampling that augments."""

    epochs: int = 60
    patience: int = 30  # attention MIL can sit at chance for a dozen epochs before it finds the lesion tiles
    lr: float = 5e-4
    weight_decay: float = 1e-4
    max_train_instances: int | None = 512
    ema_decay: float = 0.0
    seed: int = 0
    devices: str = "auto"
    strategy: str = "auto"
    num_nodes: int = 1

    def __post_init__(self) -> None:
        if self.lr <= 0:
            msg = f"lr must be positive, got {self.lr}"
            raise InputError(msg)

    def trainer_options(self, progress: bool = True) -> TrainerOptions:
        return TrainerOptions(max_epochs=self.epochs, patience=self.patience, devices=self.devices,
                              strategy=self.strategy, num_nodes=self.num_nodes, progress=progress,
                              log_every_n_steps=1,
                              ema_decay=self.ema_decay)


@dataclass
class MILTrainConfig:
    """Everything ``train mil`` needs; saved into ``config.json`` for provenance."""

    slides: SlideCohort = field(default_factory=SlideCohort)
    encoder: TileEncoderSpec = field(default_factory=TileEncoderSpec)
    ssl: SSLSettings = field(default_factory=SSLSettings)
    tiles: TileSettings = field(default_factory=TileSettings)
    head: MILHead = field(default_factory=MILHead)
    training: MILTraining = field(default_factory=MILTraining)
