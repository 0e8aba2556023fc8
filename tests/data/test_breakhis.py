"""The BreakHis index: real naming quirks, rejected files, errors and label encoding."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pytest
from breakhis_tree import MAGS, N_IMAGES, PATIENTS

from pathfocus.data.breakhis import (
    INDEX_COLUMNS,
    SUBTYPES,
    build_index,
    class_names,
    encode_labels,
    parse_image_name,
    read_index,
)
from pathfocus.errors import InputError


def test_parse_real_names() -> None:
    record = parse_image_name("/x/SOB_B_A-14-22549AB-40-001.png")
    assert record is not None
    assert (record.patient_id, record.label, record.subtype) == ("SOB_B_A_14-22549AB", "benign", "A")
    assert (record.magnification, record.slide_group, record.slide_id) == (40, 22549, "22549AB")
    assert (record.year, record.image_number) == (14, 1)
    record = parse_image_name("SOB_M_PC-15-190EF-400-015.png")
    assert record is not None
    assert (record.label, record.subtype, record.year, record.slide_group, record.image_number) == (
        "malignant",
        "PC",
        15,
        190,
        15,
    )


@pytest.mark.parametrize(
    "name",
    [
        "SOB_B_DC-14-2523-40-001.png",  # benign letter, malignant subtype
        "SOB_B_XX-14-2523-40-001.png",  # unknown subtype
        "SOB_B_A-14-2523-50-001.png",  # magnification BreakHis does not have
        "SOB_B_A-14-2523-40-001.jpg",
        "SOB_B_A_14-2523-40-001.png",  # folder-style separator in a file name
        "scan copy.png",
    ],
)
def test_parse_rejects(name: str) -> None:
    assert parse_image_name(name) is None


def test_subtypes_table() -> None:
    assert list(SUBTYPES) == ["A", "F", "PT", "TA", "DC", "LC", "MC", "PC"]
    assert [s.label for s in SUBTYPES.values()] == ["benign"] * 4 + ["malignant"] * 4
    assert SUBTYPES["DC"].folder == "ductal_carcinoma"


def test_index_counts_and_columns(breakhis_tree: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="pathfocus.data.breakhis"):
        index = build_index(breakhis_tree)
    assert list(index.columns) == list(INDEX_COLUMNS)
    assert len(index) == N_IMAGES
    per_mag = N_IMAGES // len(MAGS)
    assert index["magnification"].value_counts().to_dict() == dict.fromkeys(MAGS, per_mag)
    benign = sum(n for label, *_, n in PATIENTS if label == "benign") * len(MAGS)
    assert index["label"].value_counts().to_dict() == {"benign": benign, "malignant": N_IMAGES - benign}
    assert set(index["patient_id"]) == {p for _, _, p, _ in PATIENTS}
    assert set(index["subtype"]) == set(SUBTYPES)
    assert set(index["year"]) == {14, 15}
    # 22549AB, 22549CD and 22549G are one slide group; 13412 spans two subtypes and two patient folders
    assert set(index.loc[index["slide_group"] == 22549, "patient_id"]) == {
        "SOB_B_A_14-22549AB",
        "SOB_B_A_14-22549CD",
        "SOB_B_A_14-22549G",
    }
    shared = index[index["slide_group"] == 13412]
    assert set(shared["subtype"]) == {"DC", "LC"} and shared["patient_id"].nunique() == 2
    assert all(Path(p).is_absolute() and Path(p).is_file() for p in index["path"])
    # rejected files are named in warnings; hidden files and masks folders are not even looked at
    warned = " ".join(r.getMessage() for r in caplog.records)
    assert "scan copy.png" in warned and "README.txt" in warned and "SOB_B_DC-14-2523-40-009.png" in warned
    assert ".DS_Store" not in warned and "masks" not in warned


def test_index_roundtrip_csv(breakhis_tree: Path, tmp_path: Path) -> None:
    index = build_index(breakhis_tree)
    index.to_csv(tmp_path / "index.csv", index=False)
    again = read_index(tmp_path / "index.csv")
    pd.testing.assert_frame_equal(again, index)


def test_index_from_deeper_or_shallower_root(breakhis_tree: Path) -> None:
    deep = breakhis_tree / "BreaKHis_v1" / "BreaKHis_v1" / "histology_slides" / "breast" / "malignant"
    index = build_index(deep)
    assert set(index["label"]) == {"malignant"}
    assert len(index) == sum(n for label, *_, n in PATIENTS if label == "malignant") * len(MAGS)


def test_duplicate_copies_indexed_once(breakhis_tree: Path, caplog: pytest.LogCaptureFixture) -> None:
    import shutil

    shutil.copytree(breakhis_tree / "BreaKHis_v1", breakhis_tree / "second_copy")
    with caplog.at_level(logging.WARNING):
        index = build_index(breakhis_tree)
    assert len(index) == N_IMAGES
    assert "more than once" in caplog.text


def test_wrong_or_empty_root(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="is not a folder"):
        build_index(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no BreakHis images"):
        build_index(tmp_path / "empty")
    (tmp_path / "other" / "x").mkdir(parents=True)
    (tmp_path / "other" / "x" / "photo.png").write_bytes(b"\x89PNG")
    with pytest.raises(InputError, match="no BreakHis images"):
        build_index(tmp_path / "other")


def test_read_index_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        read_index(tmp_path / "nope.csv")
    pd.DataFrame({"path": ["a"], "label": ["benign"]}).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(InputError, match="patient_id"):
        read_index(tmp_path / "bad.csv")


def test_label_encoding(breakhis_tree: Path) -> None:
    index = build_index(breakhis_tree)
    assert class_names("binary") == ["benign", "malignant"]
    assert class_names("subtype") == ["A", "F", "PT", "TA", "DC", "LC", "MC", "PC"]
    binary = encode_labels(index, "binary")
    assert binary == [int(label == "malignant") for label in index["label"]]
    subtype = encode_labels(index.to_dict("records"), "subtype")
    assert [class_names("subtype")[i] for i in subtype] == index["subtype"].tolist()
    with pytest.raises(InputError, match="unknown task"):
        class_names("grade")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="not one of"):
        encode_labels([{"label": "normal", "path": "x.png"}], "binary")
