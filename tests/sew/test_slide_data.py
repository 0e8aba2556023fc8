"""Slide label tables and patient-disjoint, stratified slide splits."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from pathfocus.data.slide_labels import (
    class_names_from_labels,
    load_or_make_splits,
    make_slide_splits,
    read_slide_labels,
)
from pathfocus.errors import InputError


def _table(folder: Path, n: int, labels: list[str], patients: bool = False) -> Path:
    (folder / "slides").mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        (folder / "slides" / f"s{i}.tiff").write_bytes(b"")
        row = {"slide_id": f"s{i}", "path": f"slides/s{i}.tiff", "label": labels[i % len(labels)]}
        if patients:
            row["patient_id"] = f"p{i // 2}"
        rows.append(row)
    pd.DataFrame(rows).to_csv(folder / "labels.csv", index=False)
    return folder / "labels.csv"


def test_relative_paths_resolve_against_the_csv(tmp_path: Path) -> None:
    labels = read_slide_labels(_table(tmp_path, 4, ["a", "b"]))
    assert list(labels.columns[:3]) == ["slide_id", "path", "label"]
    assert Path(labels["path"][0]) == (tmp_path / "slides" / "s0.tiff").resolve()
    assert labels["label"].tolist() == ["a", "b", "a", "b"]


def test_bad_tables_say_what_is_wrong(tmp_path: Path) -> None:
    csv = tmp_path / "bad.csv"
    pd.DataFrame({"slide_id": ["x"], "file": ["x.tiff"], "label": [1]}).to_csv(csv, index=False)
    with pytest.raises(InputError, match="lacks the column"):
        read_slide_labels(csv)
    pd.DataFrame({"slide_id": ["x"], "path": ["missing.tiff"], "label": [1]}).to_csv(csv, index=False)
    with pytest.raises(InputError, match="do not exist"):
        read_slide_labels(csv)
    with pytest.raises(InputError, match="does not exist"):
        read_slide_labels(tmp_path / "nothing.csv")


def test_class_names_keep_numeric_order() -> None:
    assert class_names_from_labels(["10", "2", "1", "2"]) == ["1", "2", "10"]
    assert class_names_from_labels([2, 0, 1]) == ["0", "1", "2"]
    assert class_names_from_labels(["tumour", "benign"]) == ["benign", "tumour"]


def test_splits_are_patient_disjoint_and_stratified(tmp_path: Path) -> None:
    labels = read_slide_labels(_table(tmp_path, 24, ["0", "0", "1", "1", "2", "2"], patients=True))
    splits = make_slide_splits(labels, test_size=0.3, val_size=0.2, seed=1)
    merged = labels.merge(splits, on="slide_id")
    assert merged.groupby("patient_id")["subset"].nunique().max() == 1
    for subset in ("train", "val", "test"):
        assert set(merged.loc[merged["subset"] == subset, "label"]) == {"0", "1", "2"}
    assert (merged["subset"] == "test").sum() == 6  # 12 patients, 4 per class, round(0.3 * 4) each
    assert make_slide_splits(labels, seed=1).equals(splits)


def test_small_classes_still_reach_test(tmp_path: Path) -> None:
    labels = read_slide_labels(_table(tmp_path, 5, ["a", "a", "a", "b", "b"]))
    merged = labels.merge(make_slide_splits(labels), on="slide_id")
    assert set(merged.loc[merged["subset"] == "test", "label"]) == {"a", "b"}
    assert set(merged.loc[merged["subset"] == "train", "label"]) == {"a", "b"}


def test_load_or_make_splits_writes_and_reuses(tmp_path: Path) -> None:
    labels = read_slide_labels(_table(tmp_path, 10, ["a", "b"]))
    run = tmp_path / "run"
    first = load_or_make_splits(run, labels)
    on_disk = pd.read_csv(run / "splits.csv", dtype=str)
    assert on_disk.equals(first)
    given = first.assign(subset=["train"] * 4 + ["val"] * 2 + ["test"] * 4)
    given.to_csv(tmp_path / "mine.csv", index=False)
    mine = load_or_make_splits(run, labels, tmp_path / "mine.csv")
    assert mine["subset"].tolist() == given["subset"].tolist()
    assert load_or_make_splits(run, labels)["subset"].tolist() == given["subset"].tolist()  # reused
    given.iloc[:3].to_csv(tmp_path / "short.csv", index=False)
    with pytest.raises(InputError, match="not in"):
        load_or_make_splits(run, labels, tmp_path / "short.csv")
