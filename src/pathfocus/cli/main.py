"""The ``pathfocus`` console script: command groups, wired from one module per area."""

from __future__ import annotations

import typer

from pathfocus.cli import (
    data_cmds,
    demo_cmds,
    encoder_cmds,
    explain_cmds,
    markers_cmds,
    mil_cmds,
    patch_cmds,
    run_cmds,
    sew_cmds,
    slide_cmds,
    view_cmds,
)
from pathfocus.cli.common import setup_logging

app = typer.Typer(
    name="pathfocus",
    help="KFDE patch classification and SEW focus-driven whole-slide analysis for histopathology.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)
groups = {
    "synth": typer.Typer(help="Make built-in synthetic data (patches, slides).", no_args_is_help=True),
    "slide": typer.Typer(help="Inspect and tile whole-slide images.", no_args_is_help=True),
    "train": typer.Typer(
        help="Train a patch, SEW, MIL model or a tile encoder into a run folder.", no_args_is_help=True
    ),
}
for group_name, group in groups.items():
    app.add_typer(group, name=group_name)


@app.callback()
def _root(verbose: bool = typer.Option(False, "--verbose", "-v", help="Show debug logging.")) -> None:
    setup_logging(verbose)


AREAS = (
    data_cmds,
    slide_cmds,
    patch_cmds,
    run_cmds,
    sew_cmds,
    mil_cmds,
    encoder_cmds,
    markers_cmds,
    explain_cmds,
    demo_cmds,
    view_cmds,
)
for area in AREAS:
    area.register(app, groups)


def main() -> None:
    """Console-script entry point."""
    app()
