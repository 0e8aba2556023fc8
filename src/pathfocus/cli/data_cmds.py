"""CLI commands for the data area (registered by :mod:`pathfocus.cli.main`)."""

from __future__ import annotations

import typer


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    """Add this area's commands to the root app and its groups."""
