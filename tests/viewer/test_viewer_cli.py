"""`pathfocus view` through typer's CliRunner: its options, and one sentence for a bad input."""

from __future__ import annotations

import typer
from typer.testing import CliRunner

from pathfocus.cli import view_cmds

runner = CliRunner()


def _app() -> typer.Typer:
    root = typer.Typer()
    view_cmds.register(root, {})
    root.command("noop", hidden=True)(lambda: None)  # two commands keep `view` a sub-command
    return root


def test_help_names_the_options():
    result = runner.invoke(_app(), ["view", "--help"])
    assert result.exit_code == 0
    for option in ("--analysis", "--annotations", "--geojson", "--host", "--port", "127.0.0.1"):
        assert option in result.output


def test_a_missing_folder_is_one_sentence(tmp_path):
    result = runner.invoke(_app(), ["view", str(tmp_path / "nothing"), "--port", "0"])
    assert result.exit_code == 1
    assert "does not exist" in result.output and "Traceback" not in result.output


def test_a_missing_analysis_folder_is_one_sentence(demo_like, tmp_path):
    result = runner.invoke(_app(), ["view", str(demo_like["slides"]), "--analysis", str(tmp_path / "none"),
                                    "--port", "0"])
    assert result.exit_code == 1 and "analysis folder" in result.output
