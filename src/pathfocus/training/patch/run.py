"""Train a patch classifier into a run folder: the API behind ``pathfocus train patch``.

Glue only: data module + model + Lightning task + trainer, then the run folder contract (config.json with
the resolved settings, model.safetensors from the best validation epoch, training_summary.json,
logs/metrics.csv).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import lightning.pytorch as pl

from pathfocus.configs import to_dict
from pathfocus.data.breakhis import class_names
from pathfocus.devices import machine_summary, pick_device
from pathfocus.fileio import write_json
from pathfocus.models.backbones import DataConfig
from pathfocus.runs import TRAINING_SUMMARY_FILE, save_run_model
from pathfocus.training.patch.config import PatchTrainConfig
from pathfocus.training.patch.data import PatchDataModule
from pathfocus.training.patch.task import PatchClassifierTask
from pathfocus.training.trainer import build_trainer, resume_checkpoint

log = logging.getLogger(__name__)


def train_patch(config: PatchTrainConfig, run_dir: Path, resume: bool = False,
                progress: bool = True) -> dict[str, Any]:
    """Train, keep the best-validation weights, and write the run folder; returns the training summary."""
    from pathfocus.models.kfde import create_model

    started = time.perf_counter()
    run_dir = Path(run_dir)
    pl.seed_everything(config.training.seed, workers=True, verbose=False)
    model = create_model(config.model.name, num_classes=len(class_names(config.data.task)),
                         backbone=config.model.backbone,
                         pretrained=config.model.pretrained, weights=config.model.weights)
    data_config = DataConfig.of(model).with_input_size(config.data.image_size)
    data = PatchDataModule(config.data, data_config, seed=config.training.seed)
    data.setup()
    task = PatchClassifierTask(model, data.class_names, data.class_weights(), lr=config.training.lr,
                               weight_decay=config.training.weight_decay, max_epochs=config.training.epochs)
    checkpoint = resume_checkpoint(run_dir, resume)
    trainer, best = build_trainer(run_dir, config.training.trainer_options(progress), checkpoint)
    trainer.fit(task, datamodule=data, ckpt_path=checkpoint)
    if not trainer.is_global_zero:
        return {}
    best.restore(model)
    save_run_model(run_dir, model, run_config(config, data, model, data_config))
    summary = {
        "kind": "patch",
        "best_epoch": best.best_epoch,
        "epochs_run": trainer.current_epoch,
        "best_val": best.best_metrics,
        "n_train": len(data.datasets["train"]),
        "n_val": len(data.datasets["val"]),
        "n_test": len(data.datasets["test"]),
        "n_skipped": len(data.skipped),
        "skipped": data.skipped,
        "seconds": round(time.perf_counter() - started, 2),
        "machine": machine_summary(pick_device()),
    }
    write_json(run_dir / TRAINING_SUMMARY_FILE, summary)
    return summary


def run_config(config: PatchTrainConfig, data: PatchDataModule, model: Any,
               data_config: DataConfig) -> dict[str, Any]:
    """The ``config.json`` of a patch run: what to rebuild the model with and how to feed it."""
    return {
        "kind": "patch",
        "model": model.config.to_dict(),
        "class_names": data.class_names,
        "task": config.data.task,
        "image_size": data_config.input_size,
        "mean": list(data_config.mean),
        "std": list(data_config.std),
        "training": to_dict(config),
    }
