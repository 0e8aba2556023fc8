"""The baseline's training: feature cache, run folder, graded cohorts and unreadable slides."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest
from safetensors import safe_open

from pathfocus.analysis.mil import build_mil_model
from pathfocus.configs import from_dict
from pathfocus.data.slide_labels import read_slide_labels
from pathfocus.devices import pick_device
from pathfocus.engines import tile_cache
from pathfocus.engines.tile_cache import TileFeatureCache, encode_cohort
from pathfocus.engines.tile_settings import TileSettings
from pathfocus.fileio import read_json
from pathfocus.runs import load_run_weights, read_training_summary
from pathfocus.slide.reader import Slide
from pathfocus.training.mil.config import MILTrainConfig
from pathfocus.training.mil.run import train_mil


class ReadCounter:
    """Counts level-0 tile reads and thumbnail reads through the real reader."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        original = Slide.read_region

        def counting(slide: Slide, *args, **kwargs):  # type: ignore[no-untyped-def]
            self.calls += 1
            return original(slide, *args, **kwargs)

        monkeypatch.setattr(Slide, "read_region", counting)


ENCODER_INPUT = 32  # as in conftest: tiles read at 256 px, encoded small


def _config(labels: Path, epochs: int = 3) -> MILTrainConfig:
    return from_dict(
        MILTrainConfig,
        {
            "slides": {"slides_csv": str(labels)},
            "encoder": {"source": "timm:convnextv2_atto", "input_size": ENCODER_INPUT},
            "tiles": {"num_workers": 0},
            "training": {"epochs": epochs},
        },
    )


def _slides(labels) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return [(str(row.slide_id), str(row.path)) for row in labels.itertuples(index=False)]


def test_run_folder_is_complete(mil_run: Path, cohort: Path) -> None:
    config = read_json(mil_run / "config.json")
    assert config["kind"] == "mil" and config["class_names"] == ["0", "1"]
    assert config["tiles"]["mpp"] == 0.5 and config["tiles"]["tile_size"] == 256
    with safe_open(str(mil_run / "model.safetensors"), framework="pt") as handle:
        names = set(handle.keys())
    assert any(name.startswith("encoder.backbone.") for name in names)
    assert {"head.classifier.weight", "head.pool.attention_w.weight"} <= names
    metrics = read_training_summary(mil_run)
    for key in ("accuracy", "balanced_accuracy", "auc", "confusion_matrix", "n_slides", "n_skipped"):
        assert key in metrics
    splits = pd.read_csv(mil_run / "splits.csv")
    assert set(splits["subset"]) == {"train", "val", "test"} and len(splits) == 7
    assert metrics["n_skipped"] == 1 and metrics["skipped"][0]["slide_id"] == "broken"
    assert "broken.tiff" in metrics["skipped"][0]["error"]
    readable = splits[splits["slide_id"] != "broken"]
    assert metrics["n_slides"] == int((readable["subset"] == "test").sum())
    curves = pd.read_csv(mil_run / "logs" / "metrics.csv")
    assert "val_loss" in curves.columns and (mil_run / "checkpoints" / "last.ckpt").is_file()
    assert len(list((mil_run / "cache").glob("tiles-*/*.safetensors"))) == 6


def test_each_tile_is_read_once_and_a_rerun_reads_nothing(
    cohort: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads = ReadCounter(monkeypatch)
    run = tmp_path / "run"
    train_mil(_config(cohort, epochs=3), run, progress=False)
    cache = sorted((run / "cache").glob("tiles-*/*.safetensors"))
    n_tiles = 0
    for path in cache:
        with safe_open(str(path), framework="pt") as handle:
            n_tiles += handle.get_slice("coords").get_shape()[0]
    # one thumbnail per slide + each tile exactly once, although training ran three epochs
    assert reads.calls == n_tiles + len(cache)
    stamps = {path.name: path.stat().st_mtime_ns for path in cache}

    reads.calls = 0
    summary = train_mil(_config(cohort, epochs=2), run, progress=False)
    assert reads.calls == 0
    assert {path.name: path.stat().st_mtime_ns for path in cache} == stamps
    assert summary["epochs_run"] == 2


def test_changed_slide_invalidates_only_its_cache_entry(
    cohort: Path, mil_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the encoder saved in the run has the fingerprint its cache was keyed with
    model = build_mil_model(read_json(mil_run / "config.json"))
    load_run_weights(mil_run, model)
    shutil.copytree(mil_run / "cache", tmp_path / "cache")  # tiles-<fingerprint>/ inside
    labels = read_slide_labels(cohort)
    encoded: list[str] = []
    original = tile_cache.encode_slide
    monkeypatch.setattr(
        tile_cache,
        "encode_slide",
        lambda path, *a, **k: encoded.append(Path(path).name) or original(path, *a, **k),
    )
    settings, device = TileSettings(**read_json(mil_run / "config.json")["tiles"]), pick_device(None)
    cache = TileFeatureCache(tmp_path / "cache", model.encoder, settings, device)
    bags, _ = encode_cohort(cache, _slides(labels))
    assert encoded == [] and len(bags) == 6
    first = Path(labels["path"][0])
    stat = first.stat()
    os.utime(first, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    try:
        bags, skipped = encode_cohort(cache, _slides(labels))
    finally:
        os.utime(first, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert encoded == [first.name] and len(bags) == 6 and not skipped


def test_bad_slide_in_a_batch_is_logged_and_skipped(
    mil_run: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = read_json(mil_run / "config.json")
    model = build_mil_model(config)
    load_run_weights(mil_run, model)
    labels = read_slide_labels(mil_run.parent / "labels.csv")  # the cohort plus broken.tiff
    settings = TileSettings(**config["tiles"])
    with caplog.at_level(logging.WARNING):
        cache = TileFeatureCache(tmp_path / "cache", model.encoder, settings, pick_device(None))
        bags, skipped = encode_cohort(cache, _slides(labels))
    assert [entry["slide_id"] for entry in skipped] == ["broken"] and len(bags) == 6
    assert len(list((tmp_path / "cache").glob("tiles-*/broken.failed.json"))) == 1  # kept for other processes
    assert "broken.tiff" in caplog.text


def test_graded_cohort_trains_three_classes(graded_cohort: Path, tmp_path: Path, cli_args) -> None:  # type: ignore
    from typer.testing import CliRunner

    from pathfocus.cli.main import app

    run = tmp_path / "graded"
    result = CliRunner().invoke(app, cli_args(graded_cohort, run, epochs=2))
    assert result.exit_code == 0, result.output
    metrics = read_training_summary(run)
    assert len(metrics["class_names"]) == 3 and len(metrics["confusion_matrix"]) == 3
    assert sum(map(sum, metrics["confusion_matrix"])) == metrics["n_slides"] == 3


def test_missing_label_table_is_one_clear_error(tmp_path: Path, cli_args) -> None:  # type: ignore
    from typer.testing import CliRunner

    from pathfocus.cli.main import app

    result = CliRunner().invoke(app, cli_args(tmp_path / "nope.csv", tmp_path / "run"))
    assert result.exit_code == 1
    assert "nope.csv" in result.output and "Traceback" not in result.output
