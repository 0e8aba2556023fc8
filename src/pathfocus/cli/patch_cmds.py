"""``pathfocus train patch``: KFDE, its ablations and the baseline CNNs on a BreakHis-style index."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from pathfocus.cli.common import CONFIG_HELP, console, default, user_errors
from pathfocus.training.patch.config import PatchDataConfig, PatchModelConfig, PatchTraining


@user_errors
def train_patch(
    index: Path | None = typer.Option(None, "--index", help="index.csv from `pathfocus index`."),
    splits: Path | None = typer.Option(None, "--splits", help="splits.csv from `pathfocus split`."),
    out: Path = typer.Option(..., "--out", help="Run folder to write."),
    config: Path | None = typer.Option(None, "--config", help=CONFIG_HELP),
    fold: int | None = typer.Option(None, "--fold", help="Which fold of the splits file"
                                    + default(PatchDataConfig, "fold")),
    magnification: str | None = typer.Option(None, "--magnification", help="40, 100, 200, 400 or all"
                                             + default(PatchDataConfig, "magnification")),
    task: str | None = typer.Option(None, "--task", help="binary (benign/malignant) or subtype (8 classes)"
                                    + default(PatchDataConfig, "task")),
    model: str | None = typer.Option(None, "--model", help="baseline|csfe|mfdf|kfde|resnet50|vgg16|"
                                     "densenet121" + default(PatchModelConfig, "name")),
    backbone: str | None = typer.Option(None, "--backbone", help="Any timm model name"
                                        + default(PatchModelConfig, "backbone")),
    pretrained: bool = typer.Option(False, "--pretrained", help="Download timm's pretrained weights."),
    weights: Path | None = typer.Option(None, "--weights", help="Local .safetensors backbone weights."),
    epochs: int | None = typer.Option(None, "--epochs", help="Most epochs"
                                      + default(PatchTraining, "epochs")),
    patience: int | None = typer.Option(None, "--patience", help="Early-stopping patience in epochs, on "
                                        "val_loss" + default(PatchTraining, "patience")),
    batch_size: int | None = typer.Option(None, "--batch-size", help="Images per batch"
                                          + default(PatchDataConfig, "batch_size")),
    image_size: int | None = typer.Option(None, "--image-size", help="Square input size in pixels "
                                          "(default: the backbone's own, 224 for ConvNeXt-V2)."),
    lr: float | None = typer.Option(None, "--lr", help="Learning rate" + default(PatchTraining, "lr")),
    workers: int | None = typer.Option(None, "--workers", help="DataLoader worker processes (default: one "
                                       "per spare CPU, at most four)."),
    devices: str | None = typer.Option(None, "--devices", help="Passed to Lightning, e.g. 1, 4, auto"
                                       + default(PatchTraining, "devices")),
    strategy: str | None = typer.Option(None, "--strategy", help="Passed to Lightning, e.g. ddp"
                                        + default(PatchTraining, "strategy")),
    num_nodes: int | None = typer.Option(None, "--num-nodes", help="Machines to train on (multi-node DDP, "
                                         "e.g. under srun)" + default(PatchTraining, "num_nodes")),
    seed: int | None = typer.Option(None, "--seed", help="Seed" + default(PatchTraining, "seed")),
    resume: bool = typer.Option(False, "--resume", help="Continue from OUT/checkpoints/last.ckpt."),
) -> None:
    """Train a patch classifier on one fold; writes config.json, model.safetensors, training_summary.json."""
    from pathfocus.configs import resolve
    from pathfocus.training.patch.config import PatchTrainConfig
    from pathfocus.training.patch.run import train_patch as run

    overrides: dict[str, Any] = {
        "data": {"index": None if index is None else str(index.resolve()),
                 "splits": None if splits is None else str(splits.resolve()), "fold": fold,
                 "magnification": magnification, "task": task, "image_size": image_size,
                 "batch_size": batch_size, "workers": workers},
        "model": {"name": model, "backbone": backbone, "pretrained": pretrained or None,
                  "weights": None if weights is None else str(weights)},
        "training": {"epochs": epochs, "patience": patience, "lr": lr, "devices": devices,
                     "strategy": strategy, "num_nodes": num_nodes,
                     "seed": seed},
    }
    settings = resolve(PatchTrainConfig, config, overrides)
    summary = run(settings, out, resume=resume)
    if summary:
        console.print(f"trained {settings.model.name} in {summary['seconds']} s (best epoch "
                      f"{summary['best_epoch']}, {summary['n_skipped']} unreadable images skipped) -> {out}")


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    """Add ``train patch``."""
    groups["train"].command("patch")(train_patch)
