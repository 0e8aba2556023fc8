"""``pathfocus train sew`` and ``pathfocus analyze`` (SEW and MIL runs alike)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from pathfocus.cli.common import console, user_errors


@user_errors
def train_sew(
    slides: Path = typer.Option(..., "--slides", help="labels.csv (slide_id,path,label[,patient_id])."),
    out: Path = typer.Option(..., "--out", help="Run folder to write."),
    splits: Path | None = typer.Option(None, "--splits", help="splits.csv (slide_id,subset); default: "
                                       "a patient-disjoint stratified split written to OUT/splits.csv."),
    epochs: int = typer.Option(60, "--epochs"),
    patience: int = typer.Option(20, "--patience", help="Early-stopping patience in epochs (on val loss)."),
    k: int = typer.Option(8, "--k", help="Focus regions read at high magnification per slide."),
    detail_mpp: float = typer.Option(0.5, "--detail-mpp", help="Resolution of the focus regions (um/px)."),
    detail_window: int = typer.Option(512, "--detail-window", help="Focus region side in pixels."),
    superpixels: int = typer.Option(192, "--superpixels", help="Superpixels over the thumbnail's tissue."),
    train_pool: int = typer.Option(16, "--train-pool", help="Candidate regions per slide in training "
                                   "(bounds the windows read; 0 = every superpixel)."),
    batch_size: int = typer.Option(2, "--batch-size", help="Slides per batch."),
    lr: float = typer.Option(2e-3, "--lr"),
    branches: str = typer.Option("both", "--branches", help="both, global (thumbnail only) or detail."),
    no_consistency: bool = typer.Option(False, "--no-consistency", help="Ablation: no consistency loss."),
    no_focus_loss: bool = typer.Option(False, "--no-focus-loss", help="Ablation: drop the focus loss."),
    embedding: str | None = typer.Option(None, "--detail-embedding", help="CNN features per detail "
                                         "superpixel: timm:<model> or kfde:<patch run folder>."),
    devices: str = typer.Option("auto", "--devices", help="Passed to Lightning (e.g. 1, 4, auto)."),
    strategy: str = typer.Option("auto", "--strategy", help="Passed to Lightning (e.g. ddp)."),
    seed: int = typer.Option(0, "--seed"),
    resume: bool = typer.Option(False, "--resume", help="Continue from OUT/checkpoints/last.ckpt."),
) -> None:
    """Train SEW; writes config.json, model.safetensors, metrics.json, splits.csv, logs/ and cache/."""
    from pathfocus.models.sew import SEWConfig
    from pathfocus.training.sew import SEWTrainOptions
    from pathfocus.training.sew import train_sew as run

    config = SEWConfig(k=k, detail_mpp=detail_mpp, detail_window=detail_window, n_superpixels=superpixels,
                       train_pool=train_pool, branches=branches, use_consistency=not no_consistency,
                       use_focus_loss=not no_focus_loss, detail_embedding=embedding)
    options = SEWTrainOptions(epochs=epochs, batch_size=batch_size, lr=lr, patience=patience, seed=seed,
                              devices=devices, strategy=strategy, resume=resume)
    summary = run(slides, out, config, options, splits)
    auc = summary.get("val_auc")
    console.print(f"trained SEW in {summary['seconds']} s ({summary['epochs_run']} epochs, "
                  f"{summary['windows_read']} windows read); best validation epoch {summary['best_epoch']}: "
                  f"accuracy {summary.get('val_accuracy', float('nan')):.3f}, AUC "
                  f"{'n/a' if auc is None else f'{auc:.3f}'} -> {out} (held-out: `pathfocus evaluate {out}`)")


@user_errors
def analyze(
    run: Path = typer.Argument(..., help="SEW or MIL run folder from `pathfocus train sew|mil`."),
    slides: list[Path] = typer.Argument(..., help="Slide files and/or folders of slides."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for <slide>.json, _heatmap.png, .geojson."),
    device: str | None = typer.Option(None, "--device", help="cpu, cuda, cuda:1 (default: GPU if present)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Redo slides whose JSON already exists."),
) -> None:
    """Classify slides and write per slide its prediction, focus regions, heatmap and QuPath GeoJSON."""
    from pathfocus.inference.analyzers import load_analyzer
    from pathfocus.inference.slide_outputs import output_paths, write_slide_outputs
    from pathfocus.slide.batch import expand_slide_paths, run_batch
    from pathfocus.slide.reader import open_slide

    paths = expand_slide_paths(slides)
    analyzer = load_analyzer(run, device=device)

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
