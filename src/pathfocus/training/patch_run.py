"""Train a patch classifier into a run folder: the API behind ``pathfocus train patch``.

Glue only: data module + model + Lightning task + trainer, then the run folder contract
(config.json, model.safetensors from the best validation epoch, metrics.json, logs/metrics.csv).
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch

from pathfocus.data.patches import IMAGENET_MEAN, IMAGENET_STD
from pathfocus.fileio import write_json
from pathfocus.runs import METRICS_FILE, save_run_model
from pathfocus.training.patch import BestWeights, PatchClassifierTask
from pathfocus.training.patch_data import PatchDataConfig, PatchDataModule
from pathfocus.training.trainer import TrainerOptions, build_trainer, resume_checkpoint
from pathfocus.training.weights import load_backbone_weights

log = logging.getLogger(__name__)


@dataclass
class PatchModelConfig:
    """What to build: a registry name from :mod:`pathfocus.models.kfde` on a timm backbone."""

    name: str = "kfde"
    backbone: str = "convnextv2_atto"
    pretrained: bool = False
    weights: str | None = None


@dataclass
class PatchTrainConfig:
    """Everything ``train patch`` needs; saved verbatim into ``config.json`` for provenance."""

    data: PatchDataConfig
    model: PatchModelConfig = field(default_factory=PatchModelConfig)
    trainer: TrainerOptions = field(default_factory=TrainerOptions)
    lr: float = 1e-3
    weight_decay: float = 0.05
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def train_patch(config: PatchTrainConfig, run_dir: Path, resume: bool = False) -> dict[str, Any]:
    """Train, keep the best-validation weights, and write the run folder; returns the training summary."""
    from pathfocus.models.kfde import create_model

    started = time.perf_counter()
    pl.seed_everything(config.seed, workers=True, verbose=False)
    data = PatchDataModule(config.data)
    data.setup()
    model = create_model(config.model.name, num_classes=len(data.class_names), backbone=config.model.backbone,
                         pretrained=config.model.pretrained)
    if config.model.weights:
        load_backbone_weights(model.backbone, config.model.weights)
    task = PatchClassifierTask(model, data.class_weights(), lr=config.lr, weight_decay=config.weight_decay,
                               max_epochs=config.trainer.max_epochs)
    best = BestWeights(monitor=config.trainer.monitor, mode=config.trainer.mode)
    trainer = build_trainer(run_dir, config.trainer)
    trainer.callbacks.append(best)
    trainer.fit(task, datamodule=data, ckpt_path=resume_checkpoint(run_dir, resume))
    if not trainer.is_global_zero:
        return {}
    if best.state is not None:
        model.load_state_dict(best.state)
    run_config = run_config_for(config, data, model)
    save_run_model(run_dir, model, run_config)
    summary = {
        "best_epoch": best.best_epoch,
        "epochs_run": trainer.current_epoch,
        "best_val": best.best_metrics,
        "n_train": len(data.datasets["train"]),
        "n_val": len(data.datasets["val"]),
        "n_test": len(data.datasets["test"]),
        "n_skipped": len(data.skipped),
        "skipped": data.skipped,
        "seconds": round(time.perf_counter() - started, 2),
        "device": "cuda" if torch.cuda.is_available() else "cpu",
    }
    write_json(run_dir / METRICS_FILE, summary)
    return summary


def run_config_for(config: PatchTrainConfig, data: PatchDataModule, model: torch.nn.Module) -> dict[str, Any]:
    """The ``config.json`` of a patch run: what to rebuild the model with and how to feed it."""
    return {
        "kind": "patch",
        "model": model.config.to_dict(),
        "class_names": data.class_names,
        "task": config.data.task,
        "image_size": config.data.image_size,
        "mean": list(IMAGENET_MEAN),
        "std": list(IMAGENET_STD),
        "training": config.to_dict(),
    }
