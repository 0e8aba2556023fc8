"""`pathfocus markers --features ...`: the whole command on a feature table, and what it writes."""

from __future__ import annotations

import numpy as np
import pandas as pd
from PIL import Image
from typer.testing import CliRunner

from pathfocus.fileio import read_json

KEYS = {"prototypes", "uniqueness", "spatial", "cox", "c_index", "logrank_p", "significant_markers",
        "candidate_markers", "cross_validation", "n_slides", "n_regions", "n_events"}


def test_markers_command_writes_every_output(tmp_path, make_cohort, write_tables):
    from pathfocus.cli.main import app

    cohort = make_cohort(seed=3, n_slides=20, per_slide=10, dim=6)
    age = np.random.default_rng(0).normal(60, 10, len(cohort.clinical)).round()
    tables = write_tables(tmp_path / "in", cohort, cohort.clinical.assign(age=age))  # a clinical covariate
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["markers", "--features", str(tables["features"]), "--slides",
                                      str(tables["slides"]), "--clinical", str(tables["clinical"]),
                                      "--out", str(out), "--k", "4", "--folds", "4", "--seed", "1",
                                      "--permutations", "2"])
    assert result.exit_code == 0, result.output
    assert "cross-validated C-index" in result.output
    document = read_json(out / "markers.json")
    assert KEYS <= set(document)
    assert document["prototypes"]["k"] == 4 and document["prototypes"]["criterion"] == "given by the user"
    assert document["cross_validation"]["folds"] == 4 and document["cross_validation"]["seed"] == 1
    assert document["permutations"] == 2
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
