"""One place that builds the Lightning Trainer, so every task gets the same run-folder behaviour.

Progress bars, a CSV training log, early stopping on validation, a ``last.ckpt`` to resume from, and
``--devices/--strategy`` passed straight to Lightning (DDP on many GPUs; CPU when there is none).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import lightning.pytorch as pl
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint, RichProgressBar
from lightning.pytorch.loggers import CSVLogger

LOG_DIR = "logs"
CHECKPOINT_DIR = "checkpoints"
log = logging.getLogger(__name__)


@dataclass
class TrainerOptions:
    """How to run training (not what to train)."""

    max_epochs: int = 10
    patience: int = 5
    monitor: str = "val_loss"
    mode: str = "min"
    devices: str = "auto"
    strategy: str = "auto"
    accelerator: str = "auto"
    precision: str | None = None
    progress: bool = True
    log_every_n_steps: int = 5
    deterministic: bool = False


def build_trainer(run_dir: Path, options: TrainerOptions) -> pl.Trainer:
    """A Trainer that logs to ``run_dir/logs`` and checkpoints (best + last) to ``run_dir/checkpoints``."""
    quiet_lightning()
    callbacks: list[pl.Callback] = [
        ModelCheckpoint(
            dirpath=run_dir / CHECKPOINT_DIR,
            filename="best",
            monitor=options.monitor,
            mode=options.mode,
            save_last=True,
            save_top_k=1,
        ),
        EarlyStopping(monitor=options.monitor, mode=options.mode, patience=options.patience),
    ]
    if options.progress:
        callbacks.append(RichProgressBar(leave=True))
    return pl.Trainer(
        default_root_dir=run_dir,
        max_epochs=options.max_epochs,
        accelerator=options.accelerator,
        devices=_devices(options.devices),
        strategy=options.strategy,
        precision=options.precision,
        callbacks=callbacks,
        logger=CSVLogger(run_dir, name=LOG_DIR, version=""),
        log_every_n_steps=options.log_every_n_steps,
        enable_progress_bar=options.progress,
        enable_model_summary=False,
        deterministic=options.deterministic,
        num_sanity_val_steps=0,
    )


def resume_checkpoint(run_dir: Path, resume: bool) -> str | None:
    """The ``last.ckpt`` to resume from when ``--resume`` was given (a clear log line when there is none).

    Lightning checkpoints hold optimiser state and are loaded with ``weights_only`` semantics by
    Lightning itself; only our own run folders are ever resumed, never downloaded files.
    """
    if not resume:
        return None
    last = run_dir / CHECKPOINT_DIR / "last.ckpt"
    if last.is_file():
        log.info("resuming from %s", last)
        return str(last)
    log.warning("--resume given but %s does not exist; starting from scratch", last)
    return None


def training_curves(run_dir: Path) -> Path | None:
    """Path of the CSV training log Lightning wrote (for the report), if any."""
    path = run_dir / LOG_DIR / "metrics.csv"
    return path if path.is_file() else None


def quiet_lightning() -> None:
    """Keep Lightning's start-up chatter (GPU/TPU lines, tips) out of the user's console.

    Lightning sets its loggers to INFO when it is imported, after the CLI configured logging, so this
    runs when a trainer is built; warnings still come through.
    """
    for name in (
        "lightning",
        "lightning.pytorch",
        "lightning.fabric",
        "lightning.pytorch.utilities.rank_zero",
    ):
        logging.getLogger(name).setLevel(logging.WARNING)


def _devices(devices: str) -> int | str:
    return int(devices) if devices.isdigit() else devices
