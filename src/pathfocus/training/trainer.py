"""One place that builds the Lightning Trainer, so every task gets the same run-folder behaviour.

Progress bars, a CSV training log that survives ``--resume``, early stopping and best-weight keeping on
one validation metric (:class:`~pathfocus.training.best.BestWeights`), a ``last.ckpt`` to resume from,
and ``--devices/--strategy`` passed straight to Lightning (DDP on many GPUs; CPU when there is none).
Data loaders split work across processes themselves (:mod:`pathfocus.training.samplers`).
"""

from __future__ import annotations

import logging
from pathlib import Path

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import EarlyStopping, EMAWeightAveraging, ModelCheckpoint, RichProgressBar

from pathfocus.training.best import BestWeights
from pathfocus.training.logs import ResumableCSVLogger
from pathfocus.training.options import TrainerOptions

CHECKPOINT_DIR = "checkpoints"
LAST_CHECKPOINT = "last.ckpt"
log = logging.getLogger(__name__)


def build_trainer(run_dir: Path, options: TrainerOptions,
                  resume_from: str | None = None) -> tuple[pl.Trainer, BestWeights]:
    """A Trainer logging to ``run_dir/logs``, checkpointing ``run_dir/checkpoints/last.ckpt``, and the
    :class:`BestWeights` callback that keeps the weights of the best ``options.monitor`` epoch."""
    quiet_lightning()
    best = BestWeights(monitor=options.monitor, mode=options.mode)
    callbacks: list[pl.Callback] = [
        # NOTE: with no monitor and top-1, the checkpoint is simply the latest epoch: last.ckpt, nothing else
        ModelCheckpoint(dirpath=run_dir / CHECKPOINT_DIR, filename=Path(LAST_CHECKPOINT).stem, monitor=None,
                        save_top_k=1, enable_version_counter=False),
        EarlyStopping(monitor=options.monitor, mode=options.mode, patience=options.patience),
        best,
    ]
    if options.ema_decay > 0:
        # after BestWeights: validation runs on the averaged weights, which BestWeights must copy before
        # this callback swaps the raw ones back at the end of the validation epoch
        callbacks.append(EMAWeightAveraging(decay=options.ema_decay))
    if options.progress:
        callbacks.append(RichProgressBar(leave=True))
    trainer = pl.Trainer(
        default_root_dir=run_dir,
        max_epochs=options.max_epochs,
        accelerator=options.accelerator,
        devices=_devices(options.devices),
        strategy=options.strategy,
        num_nodes=options.num_nodes,
        precision=options.precision,
        callbacks=callbacks,
        logger=ResumableCSVLogger(run_dir, resume_epoch=checkpoint_epoch(resume_from)),
        log_every_n_steps=options.log_every_n_steps,
        enable_progress_bar=options.progress,
        enable_model_summary=False,
        deterministic=options.deterministic,
        num_sanity_val_steps=0,
        use_distributed_sampler=False,
    )
    return trainer, best


def resume_checkpoint(run_dir: Path, resume: bool) -> str | None:
    """The ``last.ckpt`` to resume from when ``--resume`` was given (a clear log line when there is none).

    Lightning checkpoints hold optimiser state and are loaded by Lightning itself; only our own run
    folders are ever resumed, never downloaded files.
    """
    if not resume:
        return None
    last = run_dir / CHECKPOINT_DIR / LAST_CHECKPOINT
    if last.is_file():
        log.info("resuming from %s", last)
        return str(last)
    log.warning("--resume given but %s does not exist; starting from scratch", last)
    return None


def checkpoint_epoch(path: str | None) -> int | None:
    """The epoch a checkpoint resumes at (epochs before it are done), read without unpickling objects."""
    if path is None:
        return None
    state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    return int(state.get("epoch", 0)) + 1


def quiet_lightning() -> None:
    """Keep Lightning's start-up chatter (GPU/TPU lines, tips) out of the user's console.

    Lightning sets its loggers to INFO when it is imported, after the CLI configured logging, so this
    runs when a trainer is built; warnings still come through.
    """
    for name in ("lightning", "lightning.pytorch", "lightning.fabric",
                 "lightning.pytorch.utilities.rank_zero"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _devices(devices: str) -> int | str:
    return int(devices) if devices.isdigit() else devices
