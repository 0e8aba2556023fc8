"""``pathfocus train mil``: the exhaustive baseline (every tissue tile, frozen encoder, attention MIL)."""

from __future__ import annotations

from pathlib import Path

import typer

from pathfocus.cli.common import console, user_errors


@user_errors
def train_mil(
    slides: Path = typer.Option(..., "--slides", help="labels.csv (slide_id,path,label) of the cohort."),
    out: Path = typer.Option(..., "--out", help="Run folder to write."),
    splits: Path | None = typer.Option(None, "--splits", help="splits.csv (slide_id,subset); default: "
                                       "a patient-disjoint stratified split written to OUT/splits.csv."),
    epochs: int = typer.Option(40, "--epochs"),
    patience: int = typer.Option(10, "--patience", help="Early-stopping patience in epochs (on val loss)."),
    encoder: str = typer.Option("convnextv2_atto", "--encoder", help="Frozen timm tile encoder."),
    encoder_input_size: int = typer.Option(64, "--encoder-input-size",
                                           help="Tiles are resized to this before encoding (reading is "
                                           "always at full tile size)."),
    tile_size: int = typer.Option(256, "--tile-size", help="Tile side in pixels at --mpp."),
    mpp: float = typer.Option(0.5, "--mpp", help="Resolution tiles are read at (microns per pixel)."),
    min_tissue: float = typer.Option(0.5, "--min-tissue", help="Least tissue fraction of a kept tile."),
    batch_size: int = typer.Option(64, "--batch-size", help="Tiles per encoder batch."),
    workers: int = typer.Option(1, "--workers", help="DataLoader worker processes reading tiles."),
    lr: float = typer.Option(5e-4, "--lr"),
    pretrained: bool = typer.Option(False, "--pretrained", help="Download timm's encoder weights."),
    weights: Path | None = typer.Option(None, "--weights", help="Local .safetensors encoder weights."),
    devices: str = typer.Option("auto", "--devices", help="Passed to Lightning (e.g. 1, 4, auto)."),
    strategy: str = typer.Option("auto", "--strategy", help="Passed to Lightning (e.g. ddp)."),
    seed: int = typer.Option(0, "--seed"),
    resume: bool = typer.Option(False, "--resume", help="Continue from OUT/checkpoints/last.ckpt."),
) -> None:
    """Train the MIL baseline; writes config.json, model.safetensors, metrics.json, splits.csv, cache/."""
    from pathfocus.inference.mil import TileSettings
    from pathfocus.training.mil import MILTrainConfig
    from pathfocus.training.mil import train_mil as run
    from pathfocus.training.trainer import TrainerOptions

    config = MILTrainConfig(
        slides_csv=str(slides), splits_csv=str(splits) if splits else None, encoder=encoder,
        encoder_input_size=encoder_input_size, pretrained=pretrained,
        weights=str(weights) if weights else None,
        tiles=TileSettings(tile_size=tile_size, mpp=mpp, min_tissue=min_tissue, batch_size=batch_size,
                           num_workers=workers),
        lr=lr, seed=seed,
        trainer=TrainerOptions(max_epochs=epochs, patience=patience, devices=devices, strategy=strategy),
    )
    summary = run(config, out, resume=resume)
    if summary:
        auc, accuracy = summary.get("auc"), summary.get("accuracy")
        console.print(f"trained the MIL baseline in {summary['seconds']} s ({summary['feature_seconds']} s "
                      f"on tile features, cached or computed); test accuracy "
                      f"{'n/a' if accuracy is None else f'{accuracy:.3f}'}, "
                      f"AUC {'n/a' if auc is None else f'{auc:.3f}'} on {summary['n_test']} slides, "
                      f"{summary['n_skipped']} unreadable slides skipped -> {out}")


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    """Add ``train mil``."""
    groups["train"].command("mil")(train_mil)
