"""The data commands through the CLI runner: index, split, synth patches, and their one-line errors."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import typer
from breakhis_tree import N_IMAGES
from typer.testing import CliRunner

from pathfocus.cli import data_cmds


@pytest.fixture
def app() -> typer.Typer:
    root = typer.Typer()
    synth = typer.Typer()
    root.add_typer(synth, name="synth")
    data_cmds.register(root, {"synth": synth, "slide": typer.Typer(), "train": typer.Typer()})
    return root


def test_index_then_split(app: typer.Typer, breakhis_tree: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["index", str(breakhis_tree), "--out", str(tmp_path / "index.csv")])
    assert result.exit_code == 0, result.output
    assert f"{N_IMAGES} images" in result.output and "malignant" in result.output
    index = pd.read_csv(tmp_path / "index.csv")
    assert len(index) == N_IMAGES and {"path", "patient_id", "label", "subtype", "magnification"} <= set(
        index
    )

    args = ["split", str(tmp_path / "index.csv"), "--out", str(tmp_path / "splits.csv"), "--folds", "3"]
    result = runner.invoke(app, [*args, "--test-size", "0.3", "--seed", "0"])
    assert result.exit_code == 0, result.output
    splits = pd.read_csv(tmp_path / "splits.csv")
    assert list(splits.columns) == ["path", "fold", "subset"] and len(splits) == 3 * N_IMAGES


def test_errors_are_one_sentence(app: typer.Typer, tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["index", str(tmp_path / "nowhere"), "--out", str(tmp_path / "i.csv")])
    assert result.exit_code == 1 and "is not a folder" in result.output and "Traceback" not in result.output
    result = runner.invoke(app, ["split", str(tmp_path / "missing.csv")])
    assert result.exit_code == 1 and "does not exist" in result.output
    assert not (tmp_path / "i.csv").exists()


def test_synth_patches(app: typer.Typer, tmp_path: Path) -> None:
    out = tmp_path / "synth"
    args = ["synth", "patches", str(out), "--patients", "1", "--images", "1", "--size", "32", "--masks"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "wrote 32 synthetic patches" in result.output
    assert len(list((out / "BreaKHis_v1").rglob("*.png"))) == 32
    assert len(list((out / "masks").rglob("*.png"))) == 32
