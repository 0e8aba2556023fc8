"""End to end on a tiny cohort: train writes the run folder, analyze and evaluate write their files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from typer.testing import CliRunner

from pathfocus.analysis.analyzers import load_analyzer
from pathfocus.analysis.sew import SEWAnalyzer
from pathfocus.analysis.slide_eval import evaluate_slide_run
from pathfocus.analysis.slide_outputs import write_slide_outputs
from pathfocus.engines.encoders import encoder_from_record
from pathfocus.engines.sew.settings import run_settings
from pathfocus.markers.extract import extract_region_features
from pathfocus.markers.features import RegionFeatures
from pathfocus.models.sew import SEWModel
from pathfocus.runs import load_run_weights, read_run_config, read_training_summary


def test_training_writes_the_run_folder(sew_run: Path, cohort: Path) -> None:
    config = read_run_config(sew_run, kind="sew")
    assert config["class_names"] == ["0", "1"]
    assert config["reading"]["k"] == 2 and config["architecture"]["num_classes"] == 2
    assert config["training"]["epochs"] == 2  # the resolved settings, one section per concern
    assert config["encoder"]["name"] == "test_resnet" and "RANDOM weights" in config["encoder"]["description"]
    architecture, _ = run_settings(config)
    model = SEWModel(architecture, encoder_from_record(config["encoder"]))
    load_run_weights(sew_run, model)  # strict: every tensor present with its shape, the encoder's too
    assert (sew_run / "training_summary.json").is_file() and not (sew_run / "metrics.json").exists()
    metrics = read_training_summary(sew_run)
    expected = {
        "best_epoch",
        "val_slide_loss",
        "val_loss",
        "val_accuracy",
        "seconds",
        "n_train",
        "global_weight",
        "encoder",
    }
    assert expected <= set(metrics)
    assert metrics["global_weight"] in (0.0, 0.25, 0.5, 0.75, 1.0)
    assert metrics["n_train"] + metrics["n_val"] + metrics["n_test"] == 6
    splits = pd.read_csv(sew_run / "splits.csv")
    assert set(splits["subset"]) == {"train", "val", "test"}
    log = pd.read_csv(sew_run / "logs" / "metrics.csv")
    capture = log["val_focus_capture"].dropna()  # the validation split holds a lesion slide
    assert len(capture) == config["training"]["epochs"] and capture.between(0.0, 1.0).all()
    assert (sew_run / "checkpoints" / "last.ckpt").is_file()
    assert (sew_run / "logs" / "metrics.csv").is_file()
    assert any((sew_run / "cache").glob("graphs-*/*.safetensors"))
    assert (
        len(list((sew_run / "cache").glob("tiles-*/*.safetensors"))) == metrics["n_train"] + metrics["n_val"]
    )


def test_analyze_writes_json_heatmap_and_geojson(sew_run: Path, cohort: Path, tmp_path: Path) -> None:
    slide = cohort / "slides" / "slide_000.tiff"
    analysis = load_analyzer(sew_run).analyze(slide)
    assert isinstance(load_analyzer(sew_run), SEWAnalyzer)
    assert len(analysis.regions) == 2
    assert analysis.pixels_read == 2 * 256 * 256  # two windows of one 256 px tile, counted by the reader
    assert abs(sum(analysis.probabilities) - 1) < 1e-5
    assert analysis.heatmap.shape == analysis.thumbnail.shape[:2]
    assert 0.0 <= analysis.heatmap.min() and analysis.heatmap.max() <= 1.0
    paths = write_slide_outputs(tmp_path, analysis)
    document = json.loads(paths["json"].read_text())
    assert {"label", "probabilities", "regions", "seconds", "pixels_read"} <= set(document)
    assert document["label"] in ("0", "1") and document["seconds"] > 0
    assert set(document["regions"][0]) >= {"x", "y", "w", "h", "score"}
    png = Image.open(paths["heatmap"])  # the slide at 1024 px (not the 128 px thumbnail), then a colour bar
    assert document["heatmap_slide_box"] == [0, 0, 1024, 1024]
    assert png.size[1] == 1024 and png.size[0] > 1024
    geojson = json.loads(paths["geojson"].read_text())
    assert geojson["type"] == "FeatureCollection" and len(geojson["features"]) == 2
    ring = geojson["features"][0]["geometry"]["coordinates"][0]
    region = document["regions"][0]
    assert ring[0] == [region["x"], region["y"]]
    assert ring[2] == [region["x"] + region["w"], region["y"] + region["h"]]


def test_evaluate_writes_metrics_predictions_and_figure(sew_run: Path) -> None:
    metrics = evaluate_slide_run(sew_run)
    on_disk = json.loads((sew_run / "eval" / "metrics.json").read_text())
    for key in ("accuracy", "balanced_accuracy", "auc", "n_slides", "confusion_matrix", "class_names"):
        assert key in on_disk
    assert on_disk["n_slides"] == metrics["n_slides"] == 2
    predictions = pd.read_csv(sew_run / "eval" / "predictions.csv")
    assert list(predictions.columns[:5]) == ["slide_id", "true", "predicted", "prob_0", "prob_1"]
    probs = predictions[["prob_0", "prob_1"]].to_numpy()
    assert np.allclose(probs.sum(axis=1), 1, atol=1e-5)
    assert (predictions["predicted"] == probs.argmax(axis=1)).all()
    assert metrics["accuracy"] == (predictions["predicted"] == predictions["true"]).mean()
    assert Image.open(sew_run / "eval" / "confusion_matrix.png").size[0] > 0


def test_cli_analyze_skips_done_slides_and_survives_a_bad_one(
    sew_run: Path, cohort: Path, tmp_path: Path
) -> None:
    from pathfocus.cli.main import app

    bad = tmp_path / "broken.tiff"
    bad.write_bytes(b"not a slide")
    out = tmp_path / "out"
    slide = cohort / "slides" / "slide_001.tiff"
    result = CliRunner().invoke(app, ["analyze", str(sew_run), str(slide), str(bad), "--out", str(out)])
    assert result.exit_code == 0, result.output
    status = pd.read_csv(out / "status.csv", keep_default_na=False)
    assert status.set_index("slide_id")["status"].to_dict() == {"slide_001": "ok", "broken": "failed"}
    assert (out / "slide_001.json").is_file() and (out / "slide_001_heatmap.png").is_file()
    assert (out / "slide_001.geojson").is_file() and not (out / "broken.json").exists()
    again = CliRunner().invoke(app, ["analyze", str(sew_run), str(slide), "--out", str(out)])
    assert again.exit_code == 0, again.output
    assert pd.read_csv(out / "status.csv")["status"].tolist() == ["skipped"]


def test_region_features_for_markers(sew_run: Path, cohort: Path) -> None:
    slides = [cohort / "slides" / "slide_000.tiff", cohort / "slides" / "slide_002.tiff"]
    focused = extract_region_features(sew_run, slides)
    assert isinstance(focused, RegionFeatures)
    assert len(focused) == 4 and focused.n_features == 32
    assert set(focused.slide_ids) == {"slide_000", "slide_002"}
    assert focused.crops is not None and focused.crops.shape[1:] == (64, 64, 3)
    assert ((focused.lesion >= 0) & (focused.lesion <= 1)).all()
    grid = extract_region_features(sew_run, slides[:1], all_tissue=True)
    assert len(grid) > len(focused) // 2
    assert (grid.boxes[:, 2] == 256).all()
    assert np.all(np.diff(grid.focus) <= 1e-6)  # ordered by focus


def test_cli_config_file_with_flags_over_it(
    cohort: Path, tmp_path: Path, tiny_sew: dict[str, object], settings
) -> None:  # type: ignore[no-untyped-def]
    """`train sew --config` reads one section per concern; flags override it; the run records the result
    (with the class names given)."""
    import yaml

    from pathfocus.cli.main import app
    from pathfocus.configs import to_dict

    sections = to_dict(settings(cohort / "labels.csv", dict(tiny_sew) | {"epochs": 3, "k": 3}))
    del sections["slides"]
    (tmp_path / "sew.yaml").write_text(yaml.safe_dump(sections))
    run = tmp_path / "run"
    result = CliRunner().invoke(
        app,
        [
            "train",
            "sew",
            "--slides",
            str(cohort / "labels.csv"),
            "--out",
            str(run),
            "--config",
            str(tmp_path / "sew.yaml"),
            "--epochs",
            "1",
            "--class-names",
            "normal,lesion",
        ],
    )
    assert result.exit_code == 0, result.output
    recorded = read_run_config(run, kind="sew")
    assert recorded["class_names"] == ["0", "1"] and recorded["label_names"] == {"0": "normal", "1": "lesion"}
    assert recorded["reading"]["k"] == 3 and recorded["training"]["epochs"] == 1  # the flag won
    assert recorded["architecture"]["hidden"] == tiny_sew["hidden"]
    assert recorded["slides_csv"] == str((cohort / "labels.csv").resolve())
    assert read_training_summary(run)["epochs_run"] == 1
