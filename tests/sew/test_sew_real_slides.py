"""`pathfocus analyze` with a (tiny, synthetic-trained) SEW run on the real slides of tests/data/real:
outputs written, windows on tissue, the no-mpp message and --slide-mpp, fluorescence refused."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from pathfocus.cli import sew_cmds

runner = CliRunner()


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    root = typer.Typer()
    groups = {"train": typer.Typer()}
    root.add_typer(groups["train"], name="train")
    sew_cmds.register(root, groups)
    return root


def test_sew_analyses_real_slides_and_refuses_what_it_cannot(
    app: typer.Typer, sew_run: Path, real_slides: dict[str, Path], check_real_analysis, tmp_path: Path
) -> None:
    out = tmp_path / "analysis"
    slides = [str(real_slides[name]) for name in ("cmu", "tcga", "fluorescence")]
    result = runner.invoke(app, ["analyze", str(sew_run), *slides, "--out", str(out), "--workers", "1"])
    assert result.exit_code == 0, result.output  # some slides failed, not all
    status = pd.read_csv(out / "status.csv").set_index("slide_id")
    assert status.loc["CMU-1-Small-Region", "status"] == "ok"
    assert status.loc["TCGA-CR-7395-01A-01-TS1", "status"] == "failed"
    assert "--slide-mpp" in status.loc["TCGA-CR-7395-01A-01-TS1", "reason"]
    assert status.loc["fluorescence-DAPI", "status"] == "failed"
    assert "fluorescence" in status.loc["fluorescence-DAPI", "reason"]
    assert not list(out.glob("fluorescence-DAPI*"))
    document = check_real_analysis(out, real_slides["cmu"])
    assert document["method"] == "sew" and document["slide_mpp"] == pytest.approx(0.499)

    given = runner.invoke(app, ["analyze", str(sew_run), str(real_slides["tcga"]), "--out", str(out),
                                "--slide-mpp", "0.5", "--workers", "1"])
    assert given.exit_code == 0, given.output
    document = check_real_analysis(out, real_slides["tcga"], slide_mpp=0.5)
    assert document["slide_mpp"] == 0.5


def test_sew_analyze_shows_class_names(app: typer.Typer, sew_run: Path, real_slides: dict[str, Path],
                                       tmp_path: Path) -> None:
    import json

    out = tmp_path / "named"
    result = runner.invoke(app, ["analyze", str(sew_run), str(real_slides["cmu"]), "--out", str(out),
                                 "--class-names", "normal,tumour", "--workers", "1"])
    assert result.exit_code == 0, result.output
    document = json.loads((out / "CMU-1-Small-Region.json").read_text())
    assert document["class_names"] == ["normal", "tumour"] and document["label"] in ("normal", "tumour")
    wrong = runner.invoke(app, ["analyze", str(sew_run), str(real_slides["cmu"]), "--out", str(out),
                                "--class-names", "just-one"])
    assert wrong.exit_code == 1 and "--class-names needs 2" in " ".join(wrong.output.split())
