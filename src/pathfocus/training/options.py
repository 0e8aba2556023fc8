"""Settings every training run shares: how to run the Trainer, and which cohort to train on.

A light module (no torch, no Lightning) so the CLI can show defaults without importing either.
"""

from __future__ import annotations

from dataclasses import dataclass

from pathfocus.errors import InputError


@dataclass
class TrainerOptions:
    """How to run training (not what to train): epochs, the validation metric it watches, hardware."""

    max_epochs: int = 10
    patience: int = 5
    monitor: str = "val_loss"
    mode: str = "min"
    devices: str = "auto"
    strategy: str = "auto"
    num_nodes: int = 1
    accelerator: str = "auto"
    precision: str | None = None
    progress: bool = True
    log_every_n_steps: int = 5
    deterministic: bool = False
    ema_decay: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.ema_decay < 1.0:
            msg = f"ema_decay must lie in [0, 1), got {self.ema_decay}"
            raise InputError(msg)
        if self.num_nodes < 1:
            msg = f"num_nodes must be at least 1, got {self.num_nodes}"
            raise InputError(msg)
        if self.max_epochs < 1 or self.patience < 1:
            msg = f"epochs ({self.max_epochs}) and patience ({self.patience}) must be at least 1"
            raise InputError(msg)
        if self.mode not in ("min", "max"):
            msg = f"mode must be 'min' or 'max', got {self.mode!r}"
            raise InputError(msg)


@dataclass
class SlideCohort:
    """A labels table (``slide_id,path,label[,patient_id]``) and an optional fixed split to train on."""

    slides_csv: str = ""
    splits_csv: str | None = None
