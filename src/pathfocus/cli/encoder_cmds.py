"""``pathfocus train encoder``: pretrain a tile encoder self-supervised on a cohort's training slides."""

from __future__ import annotations

from pathlib import Path

import typer

from pathfocus.cli.common import console, default, user_errors
from pathfocus.engines.tile_settings import TileSettings
from pathfocus.models.backbones import TileEncoderSpec
from pathfocus.training.encoder.config import SSLSettings


@user_errors
def train_encoder(
    slides: Path = typer.Option(..., "--slides", help="labels.csv (slide_id,path[,label])."),
    out: Path = typer.Option(..., "--out", help="Encoder folder to write (use it as --encoder ssl:OUT)."),
    splits: Path | None = typer.Option(
        None,
        "--splits",
        help="splits.csv (slide_id,subset): only its train "
        "slides are used; default: every slide of --slides.",
    ),
    backbone: str | None = typer.Option(
        None, "--backbone", help="timm backbone" + default(TileEncoderSpec, "backbone")
    ),
    input_size: int | None = typer.Option(
        None,
        "--input-size",
        help="Tiles are encoded at this side" + default(TileEncoderSpec, "input_size", " px"),
    ),
    epochs: int | None = typer.Option(
        None, "--epochs", help="SimCLR epochs" + default(SSLSettings, "epochs")
    ),
    tiles_per_slide: int | None = typer.Option(
        None,
        "--tiles-per-slide",
        help="Tissue tiles sampled per slide" + default(SSLSettings, "tiles_per_slide"),
    ),
    mpp: float | None = typer.Option(
        None, "--mpp", help="Resolution tiles are read at, um/px" + default(TileSettings, "mpp")
    ),
    seed: int | None = typer.Option(None, "--seed", help="Seed" + default(SSLSettings, "seed")),
) -> None:
    """SimCLR-pretrain a tile encoder on tissue tiles (no labels are used); writes OUT/config.json and
    OUT/model.safetensors."""
    from dataclasses import replace

    from pathfocus.data.slide_labels import read_slide_labels, read_slide_splits, subset_table
    from pathfocus.training.encoder.run import pretrain_encoder

    table = read_slide_labels(slides)
    if splits is not None:
        table = subset_table(table, read_slide_splits(splits, table), "train")
    spec = TileEncoderSpec()
    ssl = SSLSettings()
    ssl = replace(
        ssl,
        **{
            k: v
            for k, v in {"epochs": epochs, "tiles_per_slide": tiles_per_slide, "seed": seed}.items()
            if v is not None
        },
    )
    tiles = TileSettings() if mpp is None else TileSettings(mpp=mpp)
    encoder = pretrain_encoder(
        list(table["path"]), out, backbone or spec.backbone, input_size or spec.input_size, tiles, ssl
    )
    console.print(f"pretrained {encoder.name} on {len(table)} slides -> {out} (use --encoder ssl:{out})")


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    """Add ``train encoder``."""
    groups["train"].command("encoder")(train_encoder)
