"""CLI commands for the data area: ``index``, ``split`` and ``synth patches``."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from pathfocus.cli.common import console, user_errors


@user_errors
def index(
    root: Path = typer.Argument(..., help="A BreakHis download (any folder above its images)."),
    out: Path = typer.Option(Path("index.csv"), "--out", "-o", help="Index CSV to write."),
) -> None:
    """Index every BreakHis-named image under ROOT (absolute paths) and print counts per class."""
    from pathfocus.data.breakhis import build_index, summarize_index
    from pathfocus.fileio import write_csv

    frame = build_index(root)
    write_csv(out, frame)
    summary = summarize_index(frame)
    table = Table(title=f"{len(frame)} images, {frame['patient_id'].nunique()} patients -> {out}")
    table.add_column("label")
    for column in summary.columns:
        table.add_column(column, justify="right")
    for label, row in summary.iterrows():
        table.add_row(str(label), *(str(v) for v in row))
    console.print(table)


@user_errors
def split(
    index_csv: Path = typer.Argument(..., help="Index CSV from `pathfocus index`."),
    out: Path = typer.Option(Path("splits.csv"), "--out", "-o", help="Splits CSV to write."),
    folds: int = typer.Option(5, help="Number of independent random splits."),
    test_size: float = typer.Option(0.3, help="Share of images (by whole groups) held out as test."),
    val_size: float = typer.Option(0.15, help="Share of the training images moved to validation."),
    seed: int = typer.Option(0, help="Random seed (same seed, same splits)."),
    group_by: str = typer.Option(
        "slide_group", help="Never split a group: slide_group (leakage-safe) or patient_id."
    ),
    stratify: str = typer.Option(
        "subtype", help="Column whose every value gets test images: subtype or label."
    ),
) -> None:
    """Write group-disjoint train/val/test splits (columns path,fold,subset) and print their sizes."""
    from pathfocus.data.breakhis import read_index
    from pathfocus.data.breakhis_splits import make_splits, summarize_splits
    from pathfocus.fileio import write_csv

    frame = read_index(index_csv)
    splits = make_splits(frame, folds, test_size, val_size, seed, group_by, stratify)
    write_csv(out, splits)
    summary = summarize_splits(frame, splits)
    table = Table(title=f"{folds} fold(s), grouped by {group_by} -> {out}")
    for column in ("fold", "subset", "label", "images", "patients"):
        table.add_column(column, justify="right" if column in ("images", "patients") else "left")
    for row in summary.itertuples(index=False):
        table.add_row(*(str(v) for v in row))
    console.print(table)


@user_errors
def synth_patches(
    out: Path = typer.Argument(..., help="Folder to write the synthetic BreakHis tree into."),
    patients: int = typer.Option(3, "--patients", help="Patients per subtype (8 subtypes)."),
    images: int = typer.Option(8, "--images", help="Images per patient and magnification."),
    size: int = typer.Option(128, "--size", help="Image side in pixels."),
    seed: int = typer.Option(0, "--seed", help="Random seed (same seed, same images)."),
    masks: bool = typer.Option(False, "--masks", help="Also write lesion-nucleus masks under OUT/masks."),
) -> None:
    """Draw a synthetic BreakHis-shaped tree (8 subtypes x 4 mags); not a substitute for real data."""
    from pathfocus.data.synthetic.patches import make_synthetic_patches

    root = make_synthetic_patches(out, patients, images, size, seed=seed, write_masks=masks)
    total = 8 * patients * 4 * images
    console.print(f"wrote {total} synthetic patches under {root}; index them with `pathfocus index {root}`.")


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    """Add this area's commands to the root app and its groups."""
    app.command("index")(index)
    app.command("split")(split)
    groups["synth"].command("patches")(synth_patches)
