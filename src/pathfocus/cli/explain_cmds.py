"""CLI commands for explanations and the report (registered by :mod:`pathfocus.cli.main`)."""

from __future__ import annotations

from pathlib import Path

import typer

from pathfocus.cli.common import console, user_errors


@user_errors
def explain(
    run: Path = typer.Argument(..., help="Patch run folder (from `pathfocus train patch`)."),
    images: list[Path] = typer.Argument(..., help="Image files or folders (slides with --regions)."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for heatmaps (.npy), overlays and the index."),
    class_name: str | None = typer.Option(None, "--class", help="Explain this class (default: each "
                                          "image's predicted class)."),
    method: str = typer.Option("gradcam", "--method",
                               help="gradcam, gradcam++, hirescam, xgradcam or layercam."),
    masks: Path | None = typer.Option(None, "--masks", help="Folder of ground-truth masks (<stem>_mask.png) "
                                      "to score each map's energy share and pointing game."),
    device: str | None = typer.Option(None, "--device", help="cpu, cuda, cuda:1 ... (default: GPU if any)."),
    batch_size: int = typer.Option(16, "--batch-size", min=1, help="Images per Grad-CAM pass."),
    regions: Path | None = typer.Option(None, "--regions", help="An analysis folder of `pathfocus analyze`: "
                                        "IMAGES are then slides, explained on their focus regions."),
    read_mpp: float = typer.Option(0.5, "--read-mpp", help="Resolution (um/px) to read regions at."),
) -> None:
    """Grad-CAM heatmaps and overlays of a patch model on images, for the predicted or a chosen class."""
    from pathfocus.explain.files import explain_files
    from pathfocus.explain.outputs import read_explanations

    if regions is not None:
        from pathfocus.explain.slide_views import explain_focus_regions

        for slide in images:
            index = explain_focus_regions(run, slide, regions, out / slide.stem, read_mpp=read_mpp,
                                          method=method, device=device)
            console.print(f"explained the focus regions of {slide.name} -> {index.parent}")
        return

    index = explain_files(run, images, out, class_name=class_name, method=method, masks_dir=masks,
                          device=device, batch_size=batch_size)
    document = read_explanations(index.parent)
    console.print(f"explained {len(document['items'])} images with {method} -> {index.parent}")
    scores = document.get("localisation")
    if scores and scores.get("energy_share_mean") is not None:
        console.print(f"energy share inside the masks {scores['energy_share_mean']:.3f} "
                      f"(a uniform map: {scores['mask_fraction_mean']:.3f}), pointing game "
                      f"{scores['pointing_game']:.2f} over {scores['n_images']} images")


@user_errors
def report(
    inputs: list[Path] = typer.Argument(..., help="Run, analysis, explain or markers folders, comparison "
                                        "JSON files, or a folder holding such folders."),
    out: Path = typer.Option(Path("report.html"), "--out", "-o", help="The HTML file to write."),
    title: str = typer.Option("pathfocus report", "--title", help="Heading of the report."),
) -> None:
    """One self-contained HTML report (images embedded) of whatever the given folders hold."""
    from pathfocus.report.document import build_report

    path = build_report(inputs, out, title=title)
    console.print(f"report: {path.resolve()}")


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    """Add ``explain`` and ``report`` to the root app."""
    app.command("explain")(explain)
    app.command("report")(report)
