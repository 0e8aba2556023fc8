"""``pathfocus train mil``: the exhaustive baseline (every tissue tile, frozen encoder, attention MIL)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from pathfocus.cli.common import (
    CLASS_NAMES_HELP,
    CONFIG_HELP,
    console,
    default,
    slide_label_names,
    user_errors,
)
from pathfocus.engines.tile_settings import TileSettings
from pathfocus.models.backbones import TileEncoderSpec
from pathfocus.training.encoder.config import SSLSettings
from pathfocus.training.mil.config import MILTraining


@user_errors
def train_mil(
    slides: Path | None = typer.Option(None, "--slides", help="labels.csv (slide_id,path,label)."),
    out: Path = typer.Option(..., "--out", help="Run folder to write."),
    config: Path | None = typer.Option(None, "--config", help=CONFIG_HELP),
    splits: Path | None = typer.Option(
        None,
        "--splits",
        help="splits.csv (slide_id,subset); default: "
        "a patient-disjoint stratified split written to OUT/splits.csv.",
    ),
    epochs: int | None = typer.Option(None, "--epochs", help="Most epochs" + default(MILTraining, "epochs")),
    patience: int | None = typer.Option(
        None,
        "--patience",
        help="Early-stopping patience in epochs, on val_loss" + default(MILTraining, "patience"),
    ),
    encoder: str | None = typer.Option(
        None,
        "--encoder",
        help="Tile encoder, shared with `train sew`: ssl "
        "(default: SimCLR-pretrained on the training slides), ssl:DIR, "
        "timm:NAME (random weights unless --pretrained/--weights) or hf-hub:ID.",
    ),
    encoder_backbone: str | None = typer.Option(
        None,
        "--encoder-backbone",
        help="timm backbone an ssl encoder is pretrained from" + default(TileEncoderSpec, "backbone"),
    ),
    ssl_epochs: int | None = typer.Option(
        None,
        "--ssl-epochs",
        help="Epochs of self-supervised pretraining of the default encoder" + default(SSLSettings, "epochs"),
    ),
    encoder_input_size: int | None = typer.Option(
        None,
        "--encoder-input-size",
        help="Tiles are resized to "
        "this before encoding; reading is always at full tile size"
        + default(TileEncoderSpec, "input_size", " px"),
    ),
    tile_size: int | None = typer.Option(
        None, "--tile-size", help="Tile side in pixels at --mpp" + default(TileSettings, "tile_size")
    ),
    mpp: float | None = typer.Option(
        None, "--mpp", help="Resolution tiles are read at, um/px" + default(TileSettings, "mpp")
    ),
    min_tissue: float | None = typer.Option(
        None,
        "--min-tissue",
        help="Least tissue fraction of a kept tile" + default(TileSettings, "min_tissue"),
    ),
    batch_size: int | None = typer.Option(
        None, "--batch-size", help="Tiles per encoder batch" + default(TileSettings, "batch_size")
    ),
    workers: int | None = typer.Option(
        None,
        "--workers",
        help="DataLoader processes reading tiles (default: one per spare CPU, at most four).",
    ),
    lr: float | None = typer.Option(None, "--lr", help="Learning rate" + default(MILTraining, "lr")),
    ema_decay: float | None = typer.Option(
        None,
        "--ema-decay",
        help="Validate, select and keep an exponential moving average of the weights with this decay per "
        "step (0: the raw weights)" + default(MILTraining, "ema_decay"),
    ),
    pretrained: bool = typer.Option(False, "--pretrained", help="Download timm's encoder weights."),
    weights: Path | None = typer.Option(None, "--weights", help="Local .safetensors encoder weights."),
    devices: str | None = typer.Option(
        None, "--devices", help="Passed to Lightning, e.g. 1, 4, auto" + default(MILTraining, "devices")
    ),
    strategy: str | None = typer.Option(
        None, "--strategy", help="Passed to Lightning, e.g. ddp" + default(MILTraining, "strategy")
    ),
    num_nodes: int | None = typer.Option(
        None, "--num-nodes", help="Machines to train on (multi-node DDP, e.g. under srun)"
        + default(MILTraining, "num_nodes"),
    ),
    seed: int | None = typer.Option(None, "--seed", help="Seed" + default(MILTraining, "seed")),
    cache_dir: Path | None = typer.Option(
        None,
        "--cache-dir",
        help="Cache of encoders and tile features to "
        "use or fill (shared with `train sew` on the same slides; default: "
        "OUT/cache).",
    ),
    resume: bool = typer.Option(False, "--resume", help="Continue from OUT/checkpoints/last.ckpt."),
    class_names: str | None = typer.Option(None, "--class-names", help=CLASS_NAMES_HELP),
) -> None:
    """Train the MIL baseline; writes config.json, model.safetensors, training_summary.json, splits.csv."""
    from pathfocus.configs import resolve
    from pathfocus.runs import record_label_names, recorded_label_names
    from pathfocus.training.mil.config import MILTrainConfig
    from pathfocus.training.mil.run import train_mil as run

    overrides: dict[str, Any] = {
        "slides": {
            "slides_csv": None if slides is None else str(slides),
            "splits_csv": None if splits is None else str(splits),
        },
        "encoder": {
            "source": encoder,
            "backbone": encoder_backbone,
            "input_size": encoder_input_size,
            "pretrained": pretrained or None,
            "weights": None if weights is None else str(weights),
        },
        "ssl": {"epochs": ssl_epochs},
        "tiles": {
            "tile_size": tile_size,
            "mpp": mpp,
            "min_tissue": min_tissue,
            "batch_size": batch_size,
            "num_workers": workers,
        },
        "training": {
            "epochs": epochs,
            "patience": patience,
            "lr": lr,
            "ema_decay": ema_decay,
            "devices": devices,
            "strategy": strategy,
            "num_nodes": num_nodes,
            "seed": seed,
        },
    }
    settings = resolve(MILTrainConfig, config, overrides)
    names = slide_label_names(settings.slides.slides_csv, class_names) or (
        recorded_label_names(out) if resume else {}
    )
    summary = run(settings, out, resume=resume, cache_dir=cache_dir)
    if summary and names:
        record_label_names(out, names)
    if summary:
        auc, accuracy = summary.get("auc"), summary.get("accuracy")
        console.print(
            f"trained the MIL baseline in {summary['seconds']} s ({summary['feature_seconds']} s "
            f"on tile features, cached or computed); test accuracy "
            f"{'n/a' if accuracy is None else f'{accuracy:.3f}'}, "
            f"AUC {'n/a' if auc is None else f'{auc:.3f}'} on {summary['n_test']} slides, "
            f"{summary['n_skipped']} unreadable slides skipped -> {out}"
        )


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    """Add ``train mil``."""
    groups["train"].command("mil")(train_mil)
