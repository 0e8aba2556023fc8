"""Labels written 0/1 with a class_name column: the run records the names, and analysis and evaluation
show them instead of 0/1."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from pathfocus.analysis.slide_eval import evaluate_slide_run
from pathfocus.cli.main import app
from pathfocus.fileio import read_json

runner = CliRunner()


def test_names_from_labels_csv_reach_every_output(cohort: Path, cli_args: Callable[..., list[str]],
                                                  tmp_path: Path) -> None:
    labels = pd.read_csv(cohort, dtype=str)
    labels["class_name"] = labels["label"].map({"0": "normal", "1": "tumour"})
    named = tmp_path / "labels.csv"
    labels.to_csv(named, index=False)
    run = tmp_path / "run"
    result = runner.invoke(app, cli_args(named, run, epochs=1))
    assert result.exit_code == 0, result.output
    config = read_json(run / "config.json")
    assert config["class_names"] == ["0", "1"] and config["label_names"] == {"0": "normal", "1": "tumour"}

    out = tmp_path / "analysis"
    slide = Path(labels["path"].iloc[0])
    slide = slide if slide.is_absolute() else cohort.parent / slide
    analysed = runner.invoke(app, ["analyze", str(run), str(slide), "--out", str(out), "--workers", "0"])
    assert analysed.exit_code == 0, analysed.output
    document = json.loads((out / f"{slide.stem}.json").read_text())
    assert document["class_names"] == ["normal", "tumour"] and document["label"] in ("normal", "tumour")

    metrics = evaluate_slide_run(run, named)
    assert metrics["class_names"] == ["normal", "tumour"]
    assert "prob_tumour" in (run / "eval" / "predictions.csv").read_text()


def test_a_wrong_number_of_names_fails_before_training(cohort: Path, cli_args: Callable[..., list[str]],
                                                       tmp_path: Path) -> None:
    run = tmp_path / "run"
    result = runner.invoke(app, [*cli_args(cohort, run, epochs=1), "--class-names", "a,b,c"])
    assert result.exit_code == 1
    assert "--class-names needs 2 distinct" in " ".join(result.output.split())
    assert not (run / "model.safetensors").exists()


def test_resume_keeps_names_it_was_not_given_again(cohort: Path, cli_args: Callable[..., list[str]],
                                                    tmp_path: Path) -> None:
    run = tmp_path / "run"
    first = runner.invoke(app, [*cli_args(cohort, run, epochs=1), "--class-names", "normal,tumour"])
    assert first.exit_code == 0, first.output
    resumed = runner.invoke(app, [*cli_args(cohort, run, epochs=2), "--resume"])
    assert resumed.exit_code == 0, resumed.output
    assert read_json(run / "config.json")["label_names"] == {"0": "normal", "1": "tumour"}
