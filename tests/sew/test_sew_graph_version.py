"""A run trained on graphs built by older code still loads, with a warning that says to retrain it."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest

from pathfocus.analysis.sew import load_sew_model
from pathfocus.engines.sew.reading import GRAPH_VERSION


def test_current_run_loads_quietly_and_older_one_warns(sew_run: Path, tmp_path: Path,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    assert json.loads((sew_run / "config.json").read_text())["graph_version"] == GRAPH_VERSION
    with caplog.at_level(logging.WARNING, logger="pathfocus"):
        load_sew_model(sew_run, device="cpu")
    assert not caplog.records

    old = tmp_path / "old-run"
    shutil.copytree(sew_run, old)
    config = json.loads((old / "config.json").read_text())
    del config["graph_version"]  # runs trained before graph versions were recorded
    (old / "config.json").write_text(json.dumps(config))
    with caplog.at_level(logging.WARNING, logger="pathfocus"):
        model, _, _ = load_sew_model(old, device="cpu")
    assert model is not None
    assert any("older pathfocus" in record.getMessage() and "retrain" in record.getMessage()
               for record in caplog.records)
