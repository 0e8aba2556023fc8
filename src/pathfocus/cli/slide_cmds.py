"""CLI commands for the slide area: ``slide info``, ``slide tile`` and ``synth slides``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from pathfocus.cli.common import cluster_option, console, err_console, user_errors

if TYPE_CHECKING:
    import pandas as pd

    from pathfocus.slide.tissue import TissueConfig

SLIDE_MPP_HELP = (
    "Level-0 microns per pixel of the slide, for slides whose metadata lacks it (e.g. 0.25 for 40x)."
)


@user_errors
def slide_info(
    slide: Path = typer.Argument(..., help="Whole-slide image (.svs, .tiff, .ndpi, .mrxs, ...)."),
    slide_mpp: float | None = typer.Option(None, "--mpp", "--slide-mpp", help=SLIDE_MPP_HELP),
) -> None:
    """Print a slide's levels, resolution (mpp), magnification and vendor as JSON."""
    from pathfocus.slide.reader import open_slide

    with open_slide(slide, mpp=slide_mpp) as opened:
        info = opened.info()
    typer.echo(json.dumps(info, indent=2))
    if info["mpp"] is None:
        err_console.print(
            f"[yellow]note:[/] {slide} has no mpp in its metadata; pass --slide-mpp to commands that read it",
            highlight=False,
        )


@user_errors
def slide_tile(
    slides: list[Path] = typer.Argument(..., help="Slide files and/or folders of slides."),
    out: Path = typer.Option(
        ..., "--out", "-o", help="One slide: a .h5 file. Several slides or a folder: a folder."
    ),
    mpp: float = typer.Option(0.5, "--mpp", help="Resolution of the tiles in microns per pixel."),
    size: int = typer.Option(256, "--size", help="Tile width and height in pixels at --mpp."),
    overlap: int = typer.Option(
        0, "--overlap", help="Overlap between neighbouring tiles in pixels at --mpp."
    ),
    min_tissue: float = typer.Option(
        0.5, "--min-tissue", help="Keep tiles with at least this tissue fraction."
    ),
    slide_mpp: float | None = typer.Option(None, "--slide-mpp", help=SLIDE_MPP_HELP),
    tissue_threshold: float | None = typer.Option(
        None, "--tissue-threshold", help="Saturation threshold for tissue (default: Otsu per slide)."
    ),
    cluster: str | None = cluster_option(),
) -> None:
    """Tile the tissue of slides at a target resolution into HDF5 coordinate files (CLAM/TRIDENT style)."""
    from pathfocus.slide.batch import expand_slide_paths, run_batch
    from pathfocus.slide.tiling import tile_slide, tiles_match
    from pathfocus.slide.tissue import TissueConfig

    config = TissueConfig(saturation_threshold=tissue_threshold)
    settings = {"mpp": mpp, "size": size, "overlap": overlap, "min_tissue": min_tissue}
    single = len(slides) == 1 and not slides[0].is_dir() and out.suffix.lower() in (".h5", ".hdf5")
    if single:
        grid = tile_slide(slides[0], out, slide_mpp=slide_mpp, tissue_config=config, **settings)
        console.print(
            f"{len(grid)} tiles of {size} px at {mpp} um/px (level {grid.spec.level}, "
            f"{grid.spec.base_size} px at level 0) -> {out}",
            highlight=False,
        )
        return

    paths = expand_slide_paths(slides)
    _check_unique_ids(paths)
    job = TileJob(out, settings, slide_mpp, config)
    status = run_batch(
        paths,
        job,
        is_done=lambda path: tiles_match(job.target(path), **settings),
        status_path=out / "status.csv",
        desc="tiling",
        console=err_console,
        cluster=cluster,
    )
    _summarise(status, out / "status.csv")


@dataclass(frozen=True)
class TileJob:
    """Tile one slide into ``out/<slide id>.h5`` (a plain object, so a cluster worker can run it)."""

    out: Path
    settings: dict[str, Any]
    slide_mpp: float | None
    tissue: TissueConfig

    def target(self, path: Path) -> Path:
        return self.out / f"{path.stem}.h5"

    def __call__(self, path: Path) -> dict[str, object]:
        from pathfocus.slide.tiling import tile_slide

        grid = tile_slide(path, self.target(path), slide_mpp=self.slide_mpp, tissue_config=self.tissue,
                          **self.settings)
        return {"n_tiles": len(grid), "level": grid.spec.level, "output": str(self.target(path))}


def _check_unique_ids(paths: list[Path]) -> None:
    from pathfocus.errors import InputError

    seen: dict[str, Path] = {}
    for path in paths:
        if path.stem in seen:
            msg = f"{seen[path.stem]} and {path} share the slide id {path.stem!r}; rename one of them"
            raise InputError(msg)
        seen[path.stem] = path


def _summarise(status: pd.DataFrame, status_path: Path) -> None:
    """One line of counts; exit 1 when any slide failed (their reasons were logged and are in the table)."""
    counts = status["status"].value_counts().to_dict()
    summary = ", ".join(f"{counts.get(key, 0)} {key}" for key in ("ok", "skipped", "failed"))
    console.print(f"{summary} (per-slide status in {status_path})", highlight=False)
    if counts.get("failed", 0):
        raise typer.Exit(code=1)


@user_errors
def synth_slides(
    out: Path = typer.Argument(..., help="Output folder for the cohort."),
    slides: int = typer.Option(24, "--slides", help="Number of slides."),
    seed: int = typer.Option(0, "--seed", help="Random seed (the same seed gives the same cohort)."),
    grades: int | None = typer.Option(None, "--grades", help="Make grade labels 0..G-1 instead of 0/1."),
    size: int = typer.Option(8192, "--size", help="Level-0 width and height in pixels (a multiple of 256)."),
    mpp: float = typer.Option(0.5, "--mpp", help="Level-0 microns per pixel (0.5 = 20x)."),
    workers: int = typer.Option(1, "--workers", help="Slides built in parallel processes."),
    task: str = typer.Option("lesion", "--task", help="lesion: positives carry lesions a thumbnail shows; "
                             "lookalike: every slide has foci that look alike on the thumbnail, and in a "
                             "positive one of them is a lesion seen only at high magnification."),
) -> None:
    """Make a synthetic slide cohort: pyramidal TIFFs + labels.csv, clinical.csv, truth.csv and masks."""
    from rich.progress import Progress

    from pathfocus.data.synthetic.slides import make_synthetic_cohort

    with Progress(console=err_console) as progress:
        bar = progress.add_task("synthetic slides", total=slides)
        make_synthetic_cohort(
            out,
            n_slides=slides,
            seed=seed,
            grades=grades,
            size=size,
            mpp=mpp,
            workers=workers,
            progress=lambda _slide_id: progress.advance(bar),
            task=task,
        )
    console.print(
        f"{slides} slides, labels.csv, clinical.csv, truth.csv and masks/ -> {out}", highlight=False
    )


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    """Add this area's commands to the root app and its groups."""
    groups["slide"].command("info")(slide_info)
    groups["slide"].command("tile")(slide_tile)
    groups["synth"].command("slides")(synth_slides)
