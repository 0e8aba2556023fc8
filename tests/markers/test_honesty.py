"""The honesty checks on feature tables whose truth we planted (fast; the slide-level version is in
test_cohort.py).

1. Survival depends on a planted pattern: the tool must find the prototype made of the pattern's
   regions, call it significant, and reach a cross-validated C-index clearly above 0.5.
2. The same cohort with (time, event) shuffled between slides: no marker significant after
   correction, C-index near 0.5.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pathfocus.fileio import read_json
from pathfocus.markers.pipeline import discover_markers

N_SLIDES = 60  # with 24 slides a null C-index has a standard deviation near 0.1: too loose a check


@pytest.fixture(scope="module")
def planted(make_cohort):
    return make_cohort(seed=0, n_slides=N_SLIDES, per_slide=16)


def _run(tmp_path, write_tables, cohort, clinical=None):
    tables = write_tables(tmp_path / "in", cohort, clinical)
    result = discover_markers(None, tables["slides"], tables["clinical"], tmp_path / "out",
                              features=tables["features"], folds=5, seed=0, progress=False)
    return result, tmp_path / "out"


def test_planted_pattern_is_found_and_predicts_survival(tmp_path, planted, write_tables):
    result, out = _run(tmp_path, write_tables, planted)
    regions = pd.read_csv(out / "regions.csv")
    slides = pd.read_csv(out / "slides.csv").set_index("slide_id")
    # the prototype whose member regions are most often pattern regions
    purity = pd.Series(planted.is_pattern).groupby(regions["prototype"]).mean()
    pattern = f"p{purity.idxmax()}"
    assert purity.max() > 0.9
    # its per-slide proportion tracks the truth, it is significant and ranked as a candidate marker
    truth = planted.pattern_fraction.loc[slides.index]
    assert np.corrcoef(slides[pattern], truth)[0, 1] > 0.7  # 16 regions per slide: binomial noise
    assert pattern in result["significant_markers"]
    assert result["candidate_markers"][0] == pattern
    assert result["uniqueness"][pattern]["log_hr_per_sd"] > 0  # more pattern, higher hazard
    assert result["cox"]["coefficients"][pattern]["hr_ci_low"] > 1.0
    assert result["c_index"] > 0.65
    assert result["logrank_p"] < 0.05
    assert read_json(out / "markers.json") == result


def test_shuffled_survival_yields_no_marker(tmp_path, planted, write_tables, shuffle):
    result, _ = _run(tmp_path, write_tables, planted, shuffle(planted.clinical, seed=1))
    assert result["significant_markers"] == []
    assert all(row["cox_q"] is None or row["cox_q"] >= 0.05 for row in result["uniqueness"].values())
    assert abs(result["c_index"] - 0.5) < 0.15
