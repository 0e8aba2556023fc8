"""``pathfocus evaluate`` and ``pathfocus predict``: use a finished run folder of any kind."""

from __future__ import annotations

from pathlib import Path

import typer

from pathfocus.cli.common import console, user_errors


@user_errors
def evaluate(
    run: Path = typer.Argument(..., help="Run folder from `pathfocus train`."),
    device: str | None = typer.Option(None, "--device", help="cpu, cuda, cuda:1 (default: GPU if present)."),
    annotations: Path | None = typer.Option(None, "--annotations", help="Slide runs: lesion annotations "
                                            "(<id>.geojson, <id>.xml, <id>_lesion.png) to score where the "
                                            "regions landed; default: masks/ beside the labels CSV, if any."),
) -> None:
    """Score a run on its held-out test split; writes RUN/eval/metrics.json and figures."""
    from pathfocus.analysis.evaluate import evaluate_run

    metrics = evaluate_run(run, device=device, annotations=annotations)
    if "image_accuracy" in metrics:
        headline = (f"image accuracy {metrics['image_accuracy']:.3f}, patient recognition rate "
                    f"{metrics['patient_recognition_rate']:.3f} on {metrics['n_patients']} test patients")
    else:
        auc = "n/a" if metrics.get("auc") is None else f"{metrics['auc']:.3f}"
        headline = f"accuracy {metrics['accuracy']:.3f}, AUC {auc} on {metrics['n_slides']} test slides"
        if metrics.get("lesion_hit_rate") is not None:
            headline += (f"; a region on the lesion in {metrics['lesion_hit_rate']:.0%} of "
                         f"{metrics['n_localised_slides']} annotated positive slides")
    console.print(f"{headline} -> {run / 'eval' / 'metrics.json'}")


@user_errors
def predict(
    run: Path = typer.Argument(..., help="Patch run folder."),
    images: list[Path] = typer.Argument(..., help="Image files or folders."),
    out: Path = typer.Option(..., "--out", help="CSV to write (path, predicted, prob_<class>...)."),
    batch_size: int = typer.Option(32, "--batch-size"),
    device: str | None = typer.Option(None, "--device"),
) -> None:
    """Classify image patches with a trained patch model."""
    from pathfocus.analysis.patch import predict_images
    from pathfocus.fileio import write_csv

    table = predict_images(run, images, batch_size=batch_size, device=device)
    write_csv(out, table)
    console.print(f"{len(table)} images -> {out}")


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    """Add ``evaluate`` and ``predict`` to the root app."""
    app.command("evaluate")(evaluate)
    app.command("predict")(predict)
