"""The report: what it finds, what it computes, and that the HTML stands on its own."""

from __future__ import annotations

import io
import json
import re

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from pathfocus.errors import InputError
from pathfocus.report.collect import collect
from pathfocus.report.document import build_report
from pathfocus.report.figures import epoch_table, roc_figure
from pathfocus.report.slide_sections import comparison_rows


def test_collect_classifies_every_folder(report_inputs):
    inventory = collect([report_inputs["root"]])
    assert sorted(run.kind for run in inventory.runs) == ["mil", "patch", "patch", "sew"]
    assert sorted(a.method for a in inventory.analyses) == ["mil", "sew"]
    assert sorted(doc["model"]["name"] for _, doc in inventory.explains) == ["baseline", "kfde"]
    assert [p.name for p, _ in inventory.markers] == ["markers"]
    assert [p.name for p, _ in inventory.comparisons] == ["comparison.json"]
    assert sorted(inventory.analyses[0].slides) == ["slide_a", "slide_b"]


def test_collect_refuses_bad_inputs(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        collect([tmp_path / "nope"])
    bad = tmp_path / "comparison.json"
    bad.write_text(json.dumps({"kind": "sew_vs_exhaustive", "methods": {"sew": {"auc": 0.9}}}))
    with pytest.raises(InputError, match="exhaustive.seconds"):
        collect([bad])
    other = tmp_path / "other.json"
    other.write_text("{}")
    with pytest.raises(InputError, match="not a file the report knows"):
        collect([other])
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="nothing to report"):
        build_report([tmp_path / "empty"], tmp_path / "r.html")


def test_roc_figure_is_a_png_and_needs_two_classes():
    predictions = pd.DataFrame({"true": [0, 0, 1, 1], "prob_a": [0.9, 0.6, 0.4, 0.2],
                                "prob_b": [0.1, 0.4, 0.6, 0.8]})
    png = roc_figure(predictions, ["a", "b"], "t")
    with Image.open(io.BytesIO(png)) as image:
        assert image.format == "PNG" and min(image.size) > 100
    assert roc_figure(predictions.assign(true=0), ["a", "b"], "t") is None
    assert roc_figure(predictions, ["a", "c"], "t") is None


def test_epoch_table_collapses_lightning_rows():
    log = pd.DataFrame([{"epoch": 0, "step": 3, "train_loss_step": 0.9},
                        {"epoch": 0, "step": 3, "val_loss": 0.8},
                        {"epoch": 0, "step": 3, "train_loss_epoch": 0.85},
                        {"epoch": 1, "step": 7, "val_loss": 0.6},
                        {"epoch": 1, "step": 7, "train_loss_epoch": 0.5}])
    table = epoch_table(log)
    assert list(table.index) == [0, 1]
    assert sorted(table.columns) == ["train_loss_epoch", "val_loss"]  # the per-step twin is dropped
    assert table.loc[1, "val_loss"] == pytest.approx(0.6)


def test_comparison_ratios_are_derived_from_the_values():
    rows = comparison_rows({"sew": {"auc": 0.9, "accuracy": 0.8, "seconds": 2.0, "pixels_read": 4e6},
                            "exhaustive": {"auc": 0.92, "accuracy": 0.85, "seconds": 30.0,
                                           "pixels_read": 1e8}})
    ratio = rows[-1]
    assert ratio["seconds per slide"] == pytest.approx(15.0)
    assert ratio["Mpx read per slide"] == pytest.approx(25.0)
    assert ratio["AUC"] == pytest.approx(-0.02)
    assert rows[0]["Mpx read per slide"] == pytest.approx(4.0)


def test_full_report_is_self_contained_and_shows_every_section(report_inputs, tmp_path):
    out = build_report([report_inputs["root"]], tmp_path / "report.html", title="fixture report")
    page = out.read_text()
    for anchor in ("inputs", "runs", "gradcam", "slides", "sew-vs-exhaustive", "markers"):
        assert f'id="{anchor}"' in page
    assert "<script" not in page.lower()
    sources = re.findall(r'<img src="([^"]+)"', page)
    assert len(sources) == page.count("<img")
    assert all(src.startswith("data:image/png;base64,") for src in sources)
    assert not re.search(r'(src|href)="(https?:)?//', page)
    # kfde: confusion PNG + ROC + curves; baseline: drawn confusion + ROC; sew, mil: drawn confusions;
    # 6 overlays + localisation bars; 2 slides x 2 maps; KM curves
    assert len(sources) == 3 + 2 + 2 + 6 + 1 + 4 + 1
    auc = json.loads((report_inputs["kfde"] / "eval" / "metrics.json").read_text())["auc"]
    assert f"{auc:.3f}" in page
    assert "15.000" in page  # speed-up from comparison.json: 30 s / 2 s
    assert "baseline: no training curves" in page  # the missing log is said, not faked
    assert "hazard_ratio" in page and "0.600, 0.700, 0.740" in page  # markers.json tables
    # the sharper maps (kfde fixture) concentrate more energy in the masks, and the page says so
    assert re.search(r"<b>kfde</b> puts [0-9.]+ of its energy", page)
    # each slide links to the viewer (these analyses predate slide_path, so the path is a placeholder)
    sew, mil = report_inputs["analysis"] / "sew", report_inputs["analysis"] / "mil"
    assert f"pathfocus view PATH/TO/slide_a --analysis {sew} --analysis {mil}" in page


def test_view_command_names_the_slide_and_every_analysis(tmp_path):
    from pathfocus.report.collect import AnalysisFolder
    from pathfocus.report.slide_sections import view_command

    slide = tmp_path / "my slides" / "a.svs"
    sew = AnalysisFolder(tmp_path / "sew", {"a": {"slide_path": str(slide), "method": "sew"}})
    mil = AnalysisFolder(tmp_path / "mil", {"a": {"method": "mil"}})
    html = view_command((sew, mil), "a")
    folders = f"--analysis {tmp_path / 'sew'} --analysis {tmp_path / 'mil'}"
    assert f"pathfocus view &#x27;{slide}&#x27; {folders}" in html


def test_partial_inputs_omit_sections_with_a_note(report_inputs, tmp_path):
    out = build_report([report_inputs["kfde"]], tmp_path / "one.html")
    page = out.read_text()
    assert 'id="runs"' in page and 'id="gradcam"' not in page and 'id="slides"' not in page
    assert "no Grad-CAM folders" in page and "no slide analyses" in page and "no markers folder" in page


def test_comparison_falls_back_to_the_runs_evaluations(report_inputs, tmp_path):
    out = build_report([report_inputs["sew_run"], report_inputs["mil_run"]], tmp_path / "slides.html")
    page = out.read_text()
    assert 'id="sew-vs-exhaustive"' in page and "eval/metrics.json" in page
    assert f"{14.4 / 1.2:.3f}" in page  # speed-up from the two runs' seconds per slide
    assert np.isclose(0.91 - 0.93, -0.02)
    assert "-0.020" in page


def test_report_command_writes_the_page(report_inputs, tmp_path):
    from typer.testing import CliRunner

    from pathfocus.cli.main import app

    out = tmp_path / "cli" / "report.html"
    inputs = [str(report_inputs["explain"]), str(report_inputs["comparison"])]
    result = CliRunner().invoke(app, ["report", *inputs, "--out", str(out), "--title", "two inputs"])
    assert result.exit_code == 0, result.output
    assert "report.html" in result.output
    page = out.read_text()
    assert "<title>two inputs</title>" in page and 'id="gradcam"' in page and 'id="runs"' not in page
    missing = CliRunner().invoke(app, ["report", str(tmp_path / "absent"), "--out", str(tmp_path / "x.html")])
    assert missing.exit_code == 1 and "does not exist" in missing.output


def test_gallery_samples_evenly():
    from pathfocus.report.sections import spread

    assert spread(list(range(5)), 12) == [0, 1, 2, 3, 4]
    assert spread(list(range(100)), 4) == [0, 33, 66, 99]
