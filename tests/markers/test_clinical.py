"""Clinical and slide tables: every inconsistency is one clear InputError."""

from __future__ import annotations

import pandas as pd
import pytest

from pathfocus.errors import InputError
from pathfocus.markers.clinical import check_slide_files, covariate_columns, read_clinical, read_slides

IDS = ["A", "B", "C"]


def _write(tmp_path, rows: dict) -> str:
    path = tmp_path / "clinical.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return str(path)


def test_valid_table_is_returned_in_slide_order_with_covariates(tmp_path):
    path = _write(tmp_path, {"slide_id": ["C", "A", "B"], "time": [3, 1, 2], "event": [1, 0, 1],
                             "age": [70, 50, 60]})
    clinical = read_clinical(path, IDS)
    assert list(clinical.index) == IDS
    assert clinical["time"].tolist() == [1.0, 2.0, 3.0]
    assert clinical["event"].tolist() == [0, 1, 1]
    assert covariate_columns(clinical) == ["age"]


@pytest.mark.parametrize(("rows", "message"), [
    ({"slide_id": ["A", "B", "C", "Z"], "time": [1, 2, 3, 4], "event": [1, 0, 1, 1]},
     "not in the slide list: Z"),
    ({"slide_id": ["A", "B"], "time": [1, 2], "event": [1, 0]}, "no row for the slides C"),
    ({"slide_id": IDS, "time": [1, -2, 3], "event": [1, 0, 1]}, "negative times for B"),
    ({"slide_id": IDS, "time": [1, None, 3], "event": [1, 0, 1]}, "missing or non-numeric times for B"),
    ({"slide_id": IDS, "time": [1, 2, 3], "event": [0, 0, 0]}, "no observed event"),
    ({"slide_id": IDS, "time": [1, 2, 3], "event": [1, 2, 0]}, "other than 0 or 1 for B"),
    ({"slide_id": ["A", "A", "B", "C"], "time": [1, 1, 2, 3], "event": [1, 1, 0, 1]}, "several rows"),
    ({"slide_id": IDS, "time": [1, 2, 3]}, "lacks the columns \\['event'\\]"),
    ({"slide_id": IDS, "time": [1, 2, 3], "event": [1, 0, 1], "stage": ["I", "II", "x"]},
     "covariate 'stage'"),
])
def test_bad_clinical_tables_name_the_problem(tmp_path, rows, message):
    with pytest.raises(InputError, match=message):
        read_clinical(_write(tmp_path, rows), IDS)


def test_missing_clinical_file(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        read_clinical(tmp_path / "nope.csv", IDS)


def test_slide_list_resolves_relative_paths_and_checks_files(tmp_path):
    (tmp_path / "a.tiff").write_bytes(b"x")
    pd.DataFrame({"slide_id": ["A", "B"], "path": ["a.tiff", "b.tiff"]}).to_csv(tmp_path / "labels.csv",
                                                                                index=False)
    slides = read_slides(tmp_path / "labels.csv")
    assert slides.loc["A", "path"] == str(tmp_path.resolve() / "a.tiff")
    with pytest.raises(InputError, match="files of the slides B do not exist"):
        check_slide_files(slides, "labels.csv")


@pytest.mark.parametrize(("rows", "message"), [
    ({"slide_id": ["A"], "file": ["a"]}, "lacks the columns \\['path'\\]"),
    ({"slide_id": ["A", "A"], "path": ["a", "b"]}, "more than once"),
])
def test_bad_slide_lists(tmp_path, rows, message):
    pd.DataFrame(rows).to_csv(tmp_path / "labels.csv", index=False)
    with pytest.raises(InputError, match=message):
        read_slides(tmp_path / "labels.csv")
