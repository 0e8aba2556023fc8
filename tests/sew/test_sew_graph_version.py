"""Runs of a newer graph version load with a warning; runs on graphs with node positions (version < 4) and
runs of the old superpixel detail branch are refused with the advice to retrain."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest

from pathfocus.analysis.sew import load_sew_model
from pathfocus.engines.sew.reading import GRAPH_VERSION, OLDEST_USABLE_GRAPH_VERSION
from pathfocus.errors import CheckpointError


def test_current_run_loads_quietly_another_version_warns_an_unusable_one_is_refused(
    sew_run: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert json.loads((sew_run / "config.json").read_text())["graph_version"] == GRAPH_VERSION
    with caplog.at_level(logging.WARNING, logger="pathfocus"):
        load_sew_model(sew_run, device="cpu")
    assert not caplog.records

    def copy_with_version(version: int) -> Path:
        old = tmp_path / f"run-v{version}"
        shutil.copytree(sew_run, old)
        config = json.loads((old / "config.json").read_text())
        config["graph_version"] = version
        (old / "config.json").write_text(json.dumps(config))
        return old

    with caplog.at_level(logging.WARNING, logger="pathfocus"):
        model, _, _ = load_sew_model(copy_with_version(GRAPH_VERSION + 1), device="cpu")
    assert model is not None
    assert any("another pathfocus" in record.getMessage() and "retrain" in record.getMessage()
               for record in caplog.records)
    # version 3 graphs had node positions among their features: such a run cannot be analysed now
    assert OLDEST_USABLE_GRAPH_VERSION > 3
    with pytest.raises(CheckpointError, match="retrain it"):
        load_sew_model(copy_with_version(3), device="cpu")


def test_a_run_of_the_superpixel_detail_branch_says_to_retrain(sew_run: Path, tmp_path: Path) -> None:
    old = tmp_path / "v1-run"
    shutil.copytree(sew_run, old)
    (old / "config.json").write_text(json.dumps({"kind": "sew", "sew": {"k": 8}, "class_names": ["0", "1"]}))
    with pytest.raises(CheckpointError, match="retrain it"):
        load_sew_model(old, device="cpu")
