"""Bad input stops discover_markers and the CLI with one clear message, before anything is written."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from pathfocus.errors import CheckpointError, InputError
from pathfocus.markers.pipeline import discover_markers


@pytest.fixture(scope="module")
def small(make_cohort):
    return make_cohort(seed=1, n_slides=10, per_slide=6, dim=4)


@pytest.fixture
def tables_of(tmp_path, write_tables):
    """Write a cohort's tables, optionally edited, and return their paths."""

    def write(cohort, edit_clinical=None, edit_features=None):
        clinical = cohort.clinical if edit_clinical is None else edit_clinical(cohort.clinical.copy())
        tables = write_tables(tmp_path / "in", cohort, clinical)
        if edit_features is not None:
            edit_features(cohort.regions.copy()).to_csv(tables["features"], index=False)
        return tables

    return write




CASES = {
    "unknown slide": (lambda c: pd.concat([c, c.iloc[[0]].assign(slide_id="ZZZ")]), None,
                      "not in the slide list: ZZZ"),
    "missing slide": (lambda c: c.iloc[1:], None, "no row for the slides S000"),
    "negative time": (lambda c: c.assign(time=c["time"].where(c.index != 2, -1.0)), None,
                      "negative times for S002"),
    "missing time": (lambda c: c.assign(time=c["time"].where(c.index != 3)), None,
                     "missing or non-numeric times"),
    "all censored": (lambda c: c.assign(event=0), None, "no observed event"),
    "slide without regions": (None, lambda f: f[f["slide_id"] != "S004"],
                              "no region features for the slides S004"),
    "feature table without features": (None, lambda f: f[["slide_id", "x", "y", "w", "h", "focus", "lesion"]],
                                       "no feature columns"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_refused_and_nothing_is_written(tmp_path, small, tables_of, case):
    edit_clinical, edit_features, message = CASES[case]
    tables = tables_of(small, edit_clinical, edit_features)
    out = tmp_path / "out"
    with pytest.raises(InputError, match=message):
        discover_markers(None, tables["slides"], tables["clinical"], out, features=tables["features"],
                         progress=False)
    assert not out.exists()


@pytest.mark.parametrize(("options", "message"), [
    ({"k": 1}, "--k 1 is too small"),
    ({"folds": 1}, "--folds 1 must be between 2"),
    ({"folds": 11}, "--folds 11 must be between 2"),
    ({"permutations": -1}, "--permutations -1 must be 0"),
    ({"repeats": 0}, "--repeats 0 must be at least 1"),
])
def test_bad_options_are_refused(tmp_path, small, tables_of, options, message):
    tables = tables_of(small)
    with pytest.raises(InputError, match=message):
        discover_markers(None, tables["slides"], tables["clinical"], tmp_path / "out",
                         features=tables["features"], progress=False, **options)
    assert not (tmp_path / "out").exists()


def test_an_output_path_that_is_a_file_is_refused(tmp_path, small, tables_of):
    tables = tables_of(small)
    (tmp_path / "out").write_text("keep me")
    with pytest.raises(InputError, match="is a file"):
        discover_markers(None, tables["slides"], tables["clinical"], tmp_path / "out",
                         features=tables["features"], progress=False)
    assert (tmp_path / "out").read_text() == "keep me"


def test_a_folder_that_is_not_a_sew_run_is_refused_before_reading_slides(tmp_path, small, tables_of):
    tables = tables_of(small)
    with pytest.raises(CheckpointError, match="not a pathfocus run folder"):
        discover_markers(tmp_path / "no-run", tables["slides"], tables["clinical"], tmp_path / "out",
                         progress=False)
    assert not (tmp_path / "out").exists()


def test_cli_prints_one_sentence_and_exits_1(tmp_path, small, tables_of):
    from pathfocus.cli.main import app

    tables = tables_of(small, edit_clinical=lambda c: c.assign(event=0))
    result = CliRunner().invoke(app, ["markers", "--features", str(tables["features"]), "--slides",
                                      str(tables["slides"]), "--clinical", str(tables["clinical"]),
                                      "--out", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert "no observed event" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "out").exists()
    neither = CliRunner().invoke(app, ["markers", "--slides", str(tables["slides"]), "--clinical",
                                       str(tables["clinical"]), "--out", str(tmp_path / "out")])
    assert neither.exit_code == 1 and "either a SEW run folder" in neither.output
