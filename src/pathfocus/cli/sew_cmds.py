"""``pathfocus train sew`` and ``pathfocus analyze`` (SEW and MIL runs alike)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from pathfocus.cli.common import (
    CLASS_NAMES_HELP,
    CONFIG_HELP,
    cluster_option,
    console,
    default,
    err_console,
    slide_label_names,
    user_errors,
)
from pathfocus.configs import default_of
from pathfocus.engines.sew.reading import SEWReading
from pathfocus.engines.tile_settings import TileSettings
from pathfocus.errors import InputError
from pathfocus.models.backbones import TileEncoderSpec
from pathfocus.models.sew_settings import SEWArchitecture
from pathfocus.training.encoder.config import SSLSettings
from pathfocus.training.sew.config import SEWTraining

ENCODER_HELP = (
    "Tile encoder, shared with `train mil`: ssl (default: SimCLR-pretrain --encoder-backbone on "
    "the training slides, offline), ssl:DIR (from `train encoder`), timm:NAME (random weights "
    "unless --pretrained/--weights) or hf-hub:ORG/NAME."
)


@user_errors
def train_sew(
    slides: Path | None = typer.Option(None, "--slides", help="labels.csv (slide_id,path,label)."),
    out: Path = typer.Option(..., "--out", help="Run folder to write."),
    config: Path | None = typer.Option(None, "--config", help=CONFIG_HELP),
    splits: Path | None = typer.Option(
        None,
        "--splits",
        help="splits.csv (slide_id,subset); default: "
        "a patient-disjoint stratified split written to OUT/splits.csv.",
    ),
    epochs: int | None = typer.Option(None, "--epochs", help="Most epochs" + default(SEWTraining, "epochs")),
    patience: int | None = typer.Option(
        None,
        "--patience",
        help="Early-stopping patience in epochs, on val_slide_loss" + default(SEWTraining, "patience"),
    ),
    k: int | None = typer.Option(
        None, "--k", help="Windows read at high magnification per slide" + default(SEWReading, "k")
    ),
    window_tiles: int | None = typer.Option(
        None,
        "--window-tiles",
        help="A window is this many tiles on a side" + default(SEWReading, "window_tiles"),
    ),
    min_gap: float | None = typer.Option(
        None,
        "--min-gap",
        help="Least distance between window centres, um" + default(SEWReading, "min_gap_um"),
    ),
    tile_size: int | None = typer.Option(
        None, "--tile-size", help="Tile side in pixels at --detail-mpp" + default(TileSettings, "tile_size")
    ),
    detail_mpp: float | None = typer.Option(
        None,
        "--detail-mpp",
        "--mpp",
        help="Resolution windows and tiles are read at, um/px" + default(TileSettings, "mpp"),
    ),
    detail_window: int | None = typer.Option(
        None,
        "--detail-window",
        help="Window side in pixels at --detail-mpp (sets --window-tiles; a multiple of --tile-size).",
    ),
    superpixels: int | None = typer.Option(
        None,
        "--superpixels",
        help="Superpixels over the thumbnail's tissue" + default(SEWReading, "n_superpixels"),
    ),
    encoder: str | None = typer.Option(None, "--encoder", help=ENCODER_HELP),
    encoder_backbone: str | None = typer.Option(
        None,
        "--encoder-backbone",
        help="timm backbone an ssl encoder is pretrained from" + default(TileEncoderSpec, "backbone"),
    ),
    encoder_input_size: int | None = typer.Option(
        None,
        "--encoder-input-size",
        help="Tiles are encoded at this side" + default(TileEncoderSpec, "input_size", " px"),
    ),
    pretrained: bool = typer.Option(False, "--pretrained", help="timm:NAME with timm's published weights."),
    weights: Path | None = typer.Option(None, "--weights", help="timm:NAME with local .safetensors weights."),
    ssl_epochs: int | None = typer.Option(
        None,
        "--ssl-epochs",
        help="Epochs of self-supervised pretraining of the default encoder" + default(SSLSettings, "epochs"),
    ),
    embedding: str | None = typer.Option(
        None,
        "--detail-embedding",
        hidden=True,
        help="Older name: timm:NAME means --encoder timm:NAME --pretrained.",
    ),
    train_pool: int | None = typer.Option(None, "--train-pool", hidden=True, help="No longer used."),
    annotations: Path | None = typer.Option(
        None,
        "--annotations",
        help="Folder of lesion annotations per "
        "slide (<id>.geojson QuPath, <id>.xml ASAP/CAMELYON16, "
        "<id>_lesion.png): windows' labels where given.",
    ),
    batch_size: int | None = typer.Option(
        None, "--batch-size", help="Slides per batch" + default(SEWTraining, "batch_size")
    ),
    lr: float | None = typer.Option(None, "--lr", help="Learning rate" + default(SEWTraining, "lr")),
    pseudo_source: str | None = typer.Option(
        None,
        "--pseudo-labels",
        help="What ranks a slide's windows for the window pseudo-labels: attention (the detail branch's, "
        "over every window) or novelty (distance to the lesion-free training slides' windows)"
        + default(SEWTraining, "pseudo_source"),
    ),
    ema_decay: float | None = typer.Option(
        None,
        "--ema-decay",
        help="Validate, select and keep an exponential moving average of the weights with this decay per "
        "step (0: the raw weights)" + default(SEWTraining, "ema_decay"),
    ),
    branches: str | None = typer.Option(
        None,
        "--branches",
        help="both, global (thumbnail only) or detail" + default(SEWArchitecture, "branches"),
    ),
    no_consistency: bool = typer.Option(False, "--no-consistency", help="Ablation: no consistency loss."),
    no_focus_loss: bool = typer.Option(False, "--no-focus-loss", help="Ablation: drop the focus loss."),
    devices: str | None = typer.Option(
        None, "--devices", help="Passed to Lightning, e.g. 1, 4, auto" + default(SEWTraining, "devices")
    ),
    strategy: str | None = typer.Option(
        None, "--strategy", help="Passed to Lightning, e.g. ddp" + default(SEWTraining, "strategy")
    ),
    num_nodes: int | None = typer.Option(
        None, "--num-nodes", help="Machines to train on (multi-node DDP, e.g. under srun)"
        + default(SEWTraining, "num_nodes"),
    ),
    seed: int | None = typer.Option(
        None, "--seed", help="Seed of splits, sampling and weights" + default(SEWTraining, "seed")
    ),
    cache_dir: Path | None = typer.Option(
        None,
        "--cache-dir",
        help="Cache of encoders, graphs and tile "
        "features to use or fill (runs on the same slides, `train mil` "
        "included, may share one; default: OUT/cache).",
    ),
    resume: bool = typer.Option(False, "--resume", help="Continue from OUT/checkpoints/last.ckpt."),
    class_names: str | None = typer.Option(None, "--class-names", help=CLASS_NAMES_HELP),
) -> None:
    """Train SEW; writes config.json, model.safetensors, training_summary.json, splits.csv, logs/, cache/."""
    from pathfocus.configs import resolve
    from pathfocus.runs import record_label_names, recorded_label_names
    from pathfocus.training.sew.config import SEWTrainConfig
    from pathfocus.training.sew.run import train_sew as run

    if train_pool is not None:
        err_console.print("[yellow]note:[/] --train-pool is no longer used: training scores every window")
    source, pretrained = encoder_source(encoder, embedding, pretrained)
    overrides: dict[str, Any] = {
        "slides": {"slides_csv": _text(slides), "splits_csv": _text(splits)},
        "architecture": {"branches": branches},
        "reading": {
            "k": k,
            "window_tiles": window_tiles_of(detail_window, tile_size, window_tiles),
            "min_gap_um": min_gap,
            "n_superpixels": superpixels,
            "tiles": {"tile_size": tile_size, "mpp": detail_mpp},
        },
        "encoder": {
            "source": source,
            "backbone": encoder_backbone,
            "input_size": encoder_input_size,
            "pretrained": pretrained or None,
            "weights": _text(weights),
        },
        "ssl": {"epochs": ssl_epochs},
        "training": {
            "epochs": epochs,
            "patience": patience,
            "batch_size": batch_size,
            "lr": lr,
            "ema_decay": ema_decay,
            "pseudo_source": pseudo_source,
            "devices": devices,
            "strategy": strategy,
            "num_nodes": num_nodes,
            "seed": seed,
            "annotations": _text(annotations),
            "use_consistency": False if no_consistency else None,
            "use_focus_loss": False if no_focus_loss else None,
        },
    }
    settings = resolve(SEWTrainConfig, config, overrides)
    names = slide_label_names(settings.slides.slides_csv, class_names) or (
        recorded_label_names(out) if resume else {}
    )
    summary = run(settings, out, resume=resume, cache_dir=cache_dir)
    if not summary:
        return
    if names:
        record_label_names(out, names)
    auc = summary.get("val_auc")
    console.print(
        f"trained SEW in {summary['seconds']} s ({summary['epochs_run']} epochs, encoder: "
        f"{summary['encoder']['description']}); best validation epoch {summary['best_epoch']}: "
        f"accuracy {summary.get('val_accuracy', float('nan')):.3f}, AUC "
        f"{'n/a' if auc is None else f'{auc:.3f}'} -> {out} (held-out: `pathfocus evaluate {out}`)"
    )


def encoder_source(encoder: str | None, embedding: str | None, pretrained: bool) -> tuple[str | None, bool]:
    """``--encoder``, or what the older ``--detail-embedding timm:NAME`` meant (timm's weights)."""
    if embedding is None:
        return encoder, pretrained
    if not embedding.startswith("timm:"):
        msg = (
            f"--detail-embedding {embedding} is no longer supported; pass --encoder (ssl, ssl:DIR, timm:NAME)"
        )
        raise InputError(msg)
    return embedding, True


def window_tiles_of(detail_window: int | None, tile_size: int | None, window_tiles: int | None) -> int | None:
    """``--window-tiles``, or the older ``--detail-window`` in pixels (a multiple of the tile size)."""
    if detail_window is None:
        return window_tiles
    size = tile_size or default_of(TileSettings, "tile_size")
    if detail_window % size:
        msg = f"--detail-window {detail_window} must be a multiple of the tile size {size}"
        raise InputError(msg)
    return detail_window // size


def _text(path: Path | None) -> str | None:
    return None if path is None else str(path)


@user_errors
def analyze(
    run: Path = typer.Argument(..., help="SEW or MIL run folder from `pathfocus train sew|mil`."),
    slides: list[Path] = typer.Argument(..., help="Slide files and/or folders of slides."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for <slide>.json, _heatmap.png, .geojson."),
    device: str | None = typer.Option(None, "--device", help="cpu, cuda, cuda:1 (default: GPU if present)."),
    workers: int | None = typer.Option(
        None,
        "--workers",
        help="Reader threads (SEW windows) or processes "
        "(baseline tiles); default: from the CPUs this process may use.",
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Redo slides whose JSON already exists."),
    annotations: Path | None = typer.Option(
        None,
        "--annotations",
        help="Folder of lesion annotations "
        "(<id>.geojson, <id>.xml, <id>_lesion.png): outlined on the "
        "heatmap, and the JSON says whether a region hit the lesion.",
    ),
    slide_mpp: float | None = typer.Option(
        None, "--slide-mpp", help="Level-0 microns per pixel of the slides, for slides whose metadata "
        "lacks it (e.g. 0.25 for 40x)."),
    class_names: str | None = typer.Option(
        None, "--class-names", help=CLASS_NAMES_HELP + " Default: the names the run was trained with."),
    cluster: str | None = cluster_option(),
) -> None:
    """Classify slides and write per slide its prediction, focus regions, heatmap and QuPath GeoJSON."""
    from pathfocus.analysis.analyzers import ANALYZERS
    from pathfocus.analysis.batch_job import AnalyzeJob
    from pathfocus.runs import read_run_config
    from pathfocus.slide.batch import expand_slide_paths, run_batch
    from pathfocus.slide.cluster import task_resources

    paths = expand_slide_paths(slides)
    job = AnalyzeJob(run, out, device=device, workers=workers, slide_mpp=slide_mpp, class_names=class_names,
                     annotations=annotations, overwrite=overwrite)
    if cluster is None:
        job.analyzer()  # a bad run folder fails here, before any slide
    else:
        read_run_config(run, kind=tuple(ANALYZERS))  # each worker loads the run itself
    status = run_batch(paths, job, job.is_done, out / "status.csv", desc="analyze", cluster=cluster,
                       resources=task_resources(device))
    counts = status["status"].value_counts().to_dict()
    console.print(
        f"{counts.get('ok', 0)} analysed, {counts.get('skipped', 0)} already done, "
        f"{counts.get('failed', 0)} failed -> {out} (status.csv lists each slide)"
    )
    if counts.get("failed", 0) == len(status):
        raise typer.Exit(code=1)


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    """Add ``train sew`` and the root ``analyze``."""
    groups["train"].command("sew")(train_sew)
    app.command("analyze")(analyze)
