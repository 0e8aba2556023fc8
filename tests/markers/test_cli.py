"""`pathfocus markers --features ...`: the whole command on a feature table, and what it writes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from typer.testing import CliRunner

from pathfocus.fileio import read_json

KEYS = {"prototypes", "uniqueness", "spatial", "cox", "c_index", "logrank_p", "significant_markers",
        "candidate_markers", "cross_validation", "n_slides", "n_regions", "n_events", "c_index_interval",
        "null_mean", "null_sd", "permutation_p", "c_index_permutation_p", "logrank_z", "logrank_null_mean",
        "logrank_null_sd", "logrank_permutation_p", "verdict", "inconclusive", "verdict_reasons",
        "verdict_text"}


def test_markers_command_writes_every_output(tmp_path, make_cohort, write_tables):
    from pathfocus.cli.main import app

    cohort = make_cohort(seed=3, n_slides=20, per_slide=10, dim=6)
    age = np.random.default_rng(0).normal(60, 10, len(cohort.clinical)).round()
    tables = write_tables(tmp_path / "in", cohort, cohort.clinical.assign(age=age))  # a clinical covariate
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["markers", "--features", str(tables["features"]), "--slides",
                                      str(tables["slides"]), "--clinical", str(tables["clinical"]),
                                      "--out", str(out), "--k", "4", "--folds", "4", "--seed", "1",
                                      "--permutations", "2", "--repeats", "3"])
    assert result.exit_code == 0, result.output
    document = read_json(out / "markers.json")
    assert KEYS <= set(document)
    output = " ".join(result.output.split())
    # the C-index beside its null, and the verdict in words: 20 slides have fewer than 20 events
    assert f"cross-validated C-index {document['c_index']:.3f}" in output
    null = f"{document['null_mean']:.3f} ± {document['null_sd']:.3f}"
    assert f"on shuffled outcomes (2 permutations): {null}" in output
    assert document["n_events"] < 20 and document["inconclusive"] and document["verdict"] == "inconclusive"
    assert f"only {document['n_events']} events (fewer than 20)" in output
    assert "verdict: inconclusive, not a finding" in output
    assert document["prototypes"]["k"] == 4 and document["prototypes"]["criterion"] == "given by the user"
    validation = document["cross_validation"]
    assert validation["folds"] == 4 and validation["seed"] == 1 and validation["repeats"] == 3
    assert len(document["c_index_repeats"]) == 3
    assert document["c_index"] == pytest.approx(np.mean(document["c_index_repeats"]))
    assert document["permutations"] == 2
    assert document["permutation_p"] == document["c_index_permutation_p"]
    assert min(abs(document["c_index_permutation_p"] - p) for p in (1 / 3, 2 / 3, 1.0)) < 1e-9
    assert set(document["cox"]["coefficients"]) == {*document["candidate_markers"], "age"}
    for row in document["cox"]["coefficients"].values():
        assert row["coef_ci_low"] <= row["coef"] <= row["coef_ci_high"]
    slides = pd.read_csv(out / "slides.csv")
    assert len(slides) == 20
    proportions = slides[[f"p{i}" for i in range(4)]].to_numpy()
    np.testing.assert_allclose(proportions.sum(axis=1), 1.0)
    assert {"p0_dispersion", "p0_nn_distance", "p0_focus_distance", "p0_colocation", "cv_risk"} <= set(slides)
    regions = pd.read_csv(out / "regions.csv")
    assert len(regions) == len(cohort.regions) and set(regions["prototype"]) == {0, 1, 2, 3}
    # proportions in slides.csv are the share of each slide's regions per prototype in regions.csv
    counts = pd.crosstab(regions["slide_id"], regions["prototype"]).loc[slides["slide_id"]]
    np.testing.assert_allclose(counts.to_numpy() / counts.sum(axis=1).to_numpy()[:, None], proportions)
    for name in ("km.png", "prototypes.png"):
        with Image.open(out / name) as image:
            assert image.format == "PNG" and min(image.size) > 100
    assert not list(out.glob(".*tmp*"))  # no temporary files left behind


def test_region_choice_needs_a_run(tmp_path, make_cohort, write_tables):
    from pathfocus.cli.main import app

    tables = write_tables(tmp_path / "in", make_cohort(seed=3, n_slides=8, per_slide=6, dim=4))
    result = CliRunner().invoke(app, ["markers", "--features", str(tables["features"]), "--slides",
                                      str(tables["slides"]), "--clinical", str(tables["clinical"]),
                                      "--out", str(tmp_path / "out"), "--focused"])
    assert result.exit_code == 1 and "drop it with --features" in result.output
    assert not (tmp_path / "out").exists()
