"""Class names for slide labels written as numbers: from --class-names or a class_name column, recorded
in the run and shown instead of the labels."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from pathfocus.data.slide_labels import display_class_names, label_names, read_slide_labels
from pathfocus.errors import CheckpointError, InputError
from pathfocus.fileio import read_json, write_json
from pathfocus.runs import record_label_names


def _labels(tmp_path: Path, rows: list[dict[str, str]]) -> Path:
    for row in rows:
        (tmp_path / f"{row['slide_id']}.svs").write_bytes(b"x")
        row.setdefault("path", f"{row['slide_id']}.svs")
    path = tmp_path / "labels.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_names_come_from_a_class_name_column(tmp_path: Path) -> None:
    csv = _labels(tmp_path, [{"slide_id": "a", "label": "0", "class_name": "normal"},
                             {"slide_id": "b", "label": "1", "class_name": "tumour"},
                             {"slide_id": "c", "label": "1", "class_name": ""}])
    assert label_names(read_slide_labels(csv)) == {"0": "normal", "1": "tumour"}


def test_names_given_on_the_command_line_win_and_follow_label_order(tmp_path: Path) -> None:
    csv = _labels(tmp_path, [{"slide_id": s, "label": label} for s, label in (("a", "10"), ("b", "2"),
                                                                             ("c", "0"))])
    labels = read_slide_labels(csv)
    assert label_names(labels) == {}
    assert label_names(labels, "none, low ,high") == {"0": "none", "2": "low", "10": "high"}
    with pytest.raises(InputError, match="needs 3 distinct non-empty names"):
        label_names(labels, "none,low")
    with pytest.raises(InputError, match="needs 3"):
        label_names(labels, "a,a,b")


def test_contradicting_or_shared_names_are_refused(tmp_path: Path) -> None:
    csv = _labels(tmp_path, [{"slide_id": "a", "label": "0", "class_name": "normal"},
                             {"slide_id": "b", "label": "0", "class_name": "benign"},
                             {"slide_id": "c", "label": "1", "class_name": "tumour"}])
    with pytest.raises(InputError, match="names label 0 both 'normal' and 'benign'"):
        label_names(read_slide_labels(csv))
    same = _labels(tmp_path, [{"slide_id": "a", "label": "0", "class_name": "x"},
                              {"slide_id": "b", "label": "1", "class_name": "x"}])
    with pytest.raises(InputError, match="same class_name"):
        label_names(read_slide_labels(same))


def test_a_run_shows_recorded_names_else_its_labels_tables(tmp_path: Path) -> None:
    csv = _labels(tmp_path, [{"slide_id": "a", "label": "0", "class_name": "normal"},
                             {"slide_id": "b", "label": "1", "class_name": "tumour"}])
    assert display_class_names({"class_names": ["0", "1"]}) == ["0", "1"]
    assert display_class_names({"class_names": ["0", "1"], "slides_csv": str(csv)}) == ["normal", "tumour"]
    assert display_class_names({"class_names": ["0", "1"], "slides_csv": str(tmp_path / "gone.csv")}) == [
        "0", "1"]
    run = tmp_path / "run"
    write_json(run / "config.json", {"kind": "mil", "class_names": ["0", "1"]})
    record_label_names(run, {"0": "benign", "1": "malignant"})
    config = read_json(run / "config.json")
    assert config["class_names"] == ["0", "1"] and display_class_names(config) == ["benign", "malignant"]
    with pytest.raises(CheckpointError, match="no class"):
        record_label_names(run, {"7": "other"})
