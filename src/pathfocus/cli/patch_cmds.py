"""``pathfocus train patch``: KFDE, its ablations and the baseline CNNs on a BreakHis-style index."""

from __future__ import annotations

from pathlib import Path

import typer

from pathfocus.cli.common import console, user_errors


@user_errors
def train_patch(
    index: Path = typer.Option(..., "--index", help="index.csv from `pathfocus index`."),
    splits: Path = typer.Option(..., "--splits", help="splits.csv from `pathfocus split`."),
    out: Path = typer.Option(..., "--out", help="Run folder to write."),
    fold: int = typer.Option(1, "--fold", help="Which fold of the splits file."),
    magnification: str = typer.Option("all", "--magnification", help="40, 100, 200, 400 or all."),
    task: str = typer.Option("binary", "--task", help="binary (benign/malignant) or subtype (8 classes)."),
    model: str = typer.Option("kfde", "--model", help="baseline|csfe|mfdf|kfde|resnet50|vgg16|densenet121."),
    backbone: str = typer.Option("convnextv2_atto", "--backbone", help="Any timm model name."),
    pretrained: bool = typer.Option(False, "--pretrained", help="Download timm's pretrained weights."),
    weights: Path | None = typer.Option(None, "--weights", help="Local .safetensors backbone weights."),
    epochs: int = typer.Option(20, "--epochs"),
    patience: int = typer.Option(5, "--patience", help="Early-stopping patience in epochs (on val loss)."),
    batch_size: int = typer.Option(32, "--batch-size"),
    image_size: int = typer.Option(224, "--image-size", help="Square input size in pixels."),
    lr: float = typer.Option(1e-3, "--lr"),
    workers: int = typer.Option(2, "--workers", help="DataLoader worker processes."),
    devices: str = typer.Option("auto", "--devices", help="Passed to Lightning (e.g. 1, 4, auto)."),
    strategy: str = typer.Option("auto", "--strategy", help="Passed to Lightning (e.g. ddp)."),
    seed: int = typer.Option(0, "--seed"),
    resume: bool = typer.Option(False, "--resume", help="Continue from OUT/checkpoints/last.ckpt."),
) -> None:
    """Train a patch classifier on one fold; writes config.json, model.safetensors, metrics.json, logs/."""
    from pathfocus.training.patch_data import PatchDataConfig
    from pathfocus.training.patch_run import PatchModelConfig, PatchTrainConfig
    from pathfocus.training.patch_run import train_patch as run
    from pathfocus.training.trainer import TrainerOptions

    config = PatchTrainConfig(
        data=PatchDataConfig(index=str(index.resolve()), splits=str(splits.resolve()), fold=fold,
                             magnification=magnification, task=task, image_size=image_size,
                             batch_size=batch_size, workers=workers),
        model=PatchModelConfig(name=model, backbone=backbone, pretrained=pretrained,
                               weights=str(weights) if weights else None),
        trainer=TrainerOptions(max_epochs=epochs, patience=patience, devices=devices, strategy=strategy),
        lr=lr,
        seed=seed,
    )
    summary = run(config, out, resume=resume)
    if summary:
        console.print(f"trained {model} in {summary['seconds']} s (best epoch {summary['best_epoch']}, "
                      f"{summary['n_skipped']} unreadable images skipped) -> {out}")


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    """Add ``train patch``."""
    groups["train"].command("patch")(train_patch)
