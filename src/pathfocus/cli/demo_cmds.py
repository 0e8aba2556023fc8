"""``pathfocus demo``: the whole pipeline on built-in synthetic data, ending in report.html."""

from __future__ import annotations

from pathlib import Path

import typer

from pathfocus.cli.common import console, err_console, user_errors


@user_errors
def demo(
    out: Path = typer.Option(Path("runs/demo"), "--out", help="Folder for every output and report.html."),
    slides: int | None = typer.Option(
        None, "--slides", help="Synthetic slides in the cohort (default: the SEW benchmark's cohort size)."
    ),
    slide_size: int | None = typer.Option(
        None, "--slide-size", help="Side of each synthetic slide, level-0 px (default: the benchmark's)."
    ),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Run every step of pathfocus on synthetic data (resumes where an interrupted run stopped)."""
    from pathfocus.demo import DemoConfig, run_demo

    given = {"n_slides": slides, "slide_size": slide_size}
    config = DemoConfig(seed=seed, **{name: value for name, value in given.items() if value is not None})
    report = run_demo(out, config, console=err_console)
    console.print(f"Report: {report.resolve()}")


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    """Add the root ``demo`` command."""
    app.command("demo")(demo)
