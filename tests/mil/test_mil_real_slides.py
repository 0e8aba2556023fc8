"""`pathfocus analyze` with a short baseline (MIL) run on the real slides of tests/data/real: every tissue
tile read, its top tiles on tissue, the no-mpp message and --slide-mpp, fluorescence refused."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from pathfocus.cli.main import app

runner = CliRunner()


def test_baseline_analyses_real_slides_and_refuses_what_it_cannot(
    mil_run: Path, real_slides: dict[str, Path], check_real_analysis, tmp_path: Path
) -> None:
    out = tmp_path / "analysis"
    slides = [str(real_slides[name]) for name in ("cmu", "tcga", "fluorescence")]
    result = runner.invoke(app, ["analyze", str(mil_run), *slides, "--out", str(out), "--workers", "0"])
    assert result.exit_code == 0, result.output
    status = pd.read_csv(out / "status.csv").set_index("slide_id")
    assert status.loc["CMU-1-Small-Region", "status"] == "ok"
    assert "--slide-mpp" in status.loc["TCGA-CR-7395-01A-01-TS1", "reason"]
    assert "fluorescence" in status.loc["fluorescence-DAPI", "reason"]
    assert not (out / "fluorescence-DAPI.json").exists()
    document = check_real_analysis(out, real_slides["cmu"])
    assert document["method"] == "mil" and document["n_tiles"] >= 20
    assert document["slide_mpp"] == pytest.approx(0.499)

    given = runner.invoke(app, ["analyze", str(mil_run), str(real_slides["tcga"]), "--out", str(out),
                                "--slide-mpp", "0.5", "--workers", "0"])
    assert given.exit_code == 0, given.output
    document = check_real_analysis(out, real_slides["tcga"], slide_mpp=0.5)
    assert document["slide_mpp"] == 0.5 and document["n_tiles"] >= 100
