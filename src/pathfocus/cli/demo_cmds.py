"""``pathfocus demo``: the whole pipeline on built-in synthetic data, ending in report.html."""

from __future__ import annotations

from pathlib import Path

import typer

from pathfocus.cli.common import console, err_console, user_errors


@user_errors
def demo(
    out: Path = typer.Option(Path("runs/demo"), "--out", help="Folder for every output and report.html."),
    slides: int = typer.Option(24, "--slides", help="Synthetic slides in the cohort."),
    slide_size: int = typer.Option(6144, "--slide-size", help="Side of each synthetic slide (level-0 px)."),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Run every step of pathfocus on synthetic data (resumes where an interrupted run stopped)."""
    from pathfocus.demo import DemoConfig, run_demo

    report = run_demo(out, DemoConfig(n_slides=slides, slide_size=slide_size, seed=seed), console=err_console)
    console.print(f"Report: {report.resolve()}")


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    """Add the root ``demo`` command."""
    app.command("demo")(demo)
