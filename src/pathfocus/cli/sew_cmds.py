"""``pathfocus train sew`` and ``pathfocus analyze`` (SEW and MIL runs alike)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from pathfocus.cli.common import CONFIG_HELP, console, default, user_errors
from pathfocus.engines.sew.reading import SEWReading
from pathfocus.models.sew_settings import SEWArchitecture
from pathfocus.training.sew.config import SEWTraining


@user_errors
def train_sew(
    slides: Path | None = typer.Option(None, "--slides", help="labels.csv (slide_id,path,label)."),
    out: Path = typer.Option(..., "--out", help="Run folder to write."),
    config: Path | None = typer.Option(None, "--config", help=CONFIG_HELP),
    splits: Path | None = typer.Option(None, "--splits", help="splits.csv (slide_id,subset); default: "
                                       "a patient-disjoint stratified split written to OUT/splits.csv."),
    epochs: int | None = typer.Option(None, "--epochs", help="Most epochs" + default(SEWTraining, "epochs")),
    patience: int | None = typer.Option(None, "--patience", help="Early-stopping patience in epochs, on "
                                        "val_slide_loss" + default(SEWTraining, "patience")),
    k: int | None = typer.Option(None, "--k", help="Focus regions read at high magnification per slide"
                                 + default(SEWReading, "k")),
    detail_mpp: float | None = typer.Option(None, "--detail-mpp", help="Resolution of the focus regions in "
                                            "um/px" + default(SEWReading, "detail_mpp")),
    detail_window: int | None = typer.Option(None, "--detail-window", help="Focus region side in pixels"
                                             + default(SEWReading, "detail_window")),
    superpixels: int | None = typer.Option(None, "--superpixels", help="Superpixels over the thumbnail's "
                                           "tissue" + default(SEWReading, "n_superpixels")),
    train_pool: int | None = typer.Option(None, "--train-pool", help="Candidate regions per slide in "
                                          "training, 0 = every superpixel"
                                          + default(SEWTraining, "train_pool")),
    batch_size: int | None = typer.Option(None, "--batch-size", help="Slides per batch"
                                          + default(SEWTraining, "batch_size")),
    lr: float | None = typer.Option(None, "--lr", help="Learning rate" + default(SEWTraining, "lr")),
    branches: str | None = typer.Option(None, "--branches", help="both, global (thumbnail only) or detail"
                                        + default(SEWArchitecture, "branches")),
    no_consistency: bool = typer.Option(False, "--no-consistency", help="Ablation: no consistency loss."),
    no_focus_loss: bool = typer.Option(False, "--no-focus-loss", help="Ablation: drop the focus loss."),
    embedding: str | None = typer.Option(None, "--detail-embedding", help="CNN features per detail "
                                         "superpixel: timm:<model> or kfde:<patch run folder>."),
    devices: str | None = typer.Option(None, "--devices", help="Passed to Lightning, e.g. 1, 4, auto"
                                       + default(SEWTraining, "devices")),
    strategy: str | None = typer.Option(None, "--strategy", help="Passed to Lightning, e.g. ddp"
                                        + default(SEWTraining, "strategy")),
    seed: int | None = typer.Option(None, "--seed", help="Seed of splits, sampling and weights"
                                    + default(SEWTraining, "seed")),
    cache_dir: Path | None = typer.Option(None, "--cache-dir", help="Graph cache to use or fill (runs on "
                                          "the same slides may share one; default: OUT/cache)."),
    resume: bool = typer.Option(False, "--resume", help="Continue from OUT/checkpoints/last.ckpt."),
) -> None:
    """Train SEW; writes config.json, model.safetensors, training_summary.json, splits.csv, logs/, cache/."""
    from pathfocus.configs import resolve
    from pathfocus.training.sew.config import SEWTrainConfig
    from pathfocus.training.sew.run import train_sew as run

    overrides: dict[str, Any] = {
        "slides": {"slides_csv": _text(slides), "splits_csv": _text(splits)},
        "architecture": {"branches": branches},
        "reading": {"k": k, "detail_mpp": detail_mpp, "detail_window": detail_window,
                    "n_superpixels": superpixels, "detail_embedding": embedding},
        "training": {"epochs": epochs, "patience": patience, "train_pool": train_pool,
                     "batch_size": batch_size, "lr": lr, "devices": devices, "strategy": strategy,
                     "seed": seed,
                     "use_consistency": False if no_consistency else None,
                     "use_focus_loss": False if no_focus_loss else None},
    }
    settings = resolve(SEWTrainConfig, config, overrides)
    summary = run(settings, out, resume=resume, cache_dir=cache_dir)
    if not summary:
        return
    auc = summary.get("val_auc")
    console.print(f"trained SEW in {summary['seconds']} s ({summary['epochs_run']} epochs, "
                  f"{summary['windows_read']} windows read); best validation epoch {summary['best_epoch']}: "
                  f"accuracy {summary.get('val_accuracy', float('nan')):.3f}, AUC "
                  f"{'n/a' if auc is None else f'{auc:.3f}'} -> {out} (held-out: `pathfocus evaluate {out}`)")


def _text(path: Path | None) -> str | None:
    return None if path is None else str(path)


@user_errors
def analyze(
    run: Path = typer.Argument(..., help="SEW or MIL run folder from `pathfocus train sew|mil`."),
    slides: list[Path] = typer.Argument(..., help="Slide files and/or folders of slides."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for <slide>.json, _heatmap.png, .geojson."),
    device: str | None = typer.Option(None, "--device", help="cpu, cuda, cuda:1 (default: GPU if present)."),
    workers: int | None = typer.Option(None, "--workers", help="Reader threads (SEW windows) or processes "
                                       "(baseline tiles); default: from the CPUs this process may use."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Redo slides whose JSON already exists."),
) -> None:
    """Classify slides and write per slide its prediction, focus regions, heatmap and QuPath GeoJSON."""
    from pathfocus.analysis.analyzers import load_analyzer
    from pathfocus.analysis.slide_outputs import output_paths, write_slide_outputs
    from pathfocus.slide.batch import expand_slide_paths, run_batch
    from pathfocus.slide.reader import open_slide

    paths = expand_slide_paths(slides)
    analyzer = load_analyzer(run, device=device, workers=workers)

    def process(path: Path) -> dict[str, Any]:
        analysis = analyzer.analyze(path)
        mpp = analysis.extra.get("slide_mpp")
        if mpp is None:
            with open_slide(path) as slide:
                mpp = slide.mpp
        write_slide_outputs(out, analysis, slide_mpp=mpp)
        return {"label": analysis.label, "analysis_seconds": round(analysis.seconds, 3),
                "pixels_read": analysis.pixels_read}

    def is_done(path: Path) -> bool:
        return not overwrite and output_paths(out, path.stem)["json"].is_file()

    status = run_batch(paths, process, is_done, out / "status.csv", desc="analyze")
    counts = status["status"].value_counts().to_dict()
    console.print(f"{counts.get('ok', 0)} analysed, {counts.get('skipped', 0)} already done, "
                  f"{counts.get('failed', 0)} failed -> {out} (status.csv lists each slide)")
    if counts.get("failed", 0) == len(status):
        raise typer.Exit(code=1)


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    """Add ``train sew`` and the root ``analyze``."""
    groups["train"].command("sew")(train_sew)
    app.command("analyze")(analyze)
