"""A graded cohort (three classes, as in the SEW paper's grading task) trains, evaluates and analyses."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from pathfocus.analysis.slide_eval import evaluate_slide_run
from pathfocus.training.sew.run import train_sew


@pytest.fixture(scope="module")
def graded_run(tmp_path_factory: pytest.TempPathFactory, tiny_sew: dict[str, object], settings) -> Path:  # type: ignore[no-untyped-def]
    from pathfocus.data.synthetic.slides import make_synthetic_cohort

    cohort = make_synthetic_cohort(tmp_path_factory.mktemp("graded"), n_slides=9, seed=5, grades=3, size=1024)
    run = tmp_path_factory.mktemp("graded_run")
    train_sew(settings(cohort / "labels.csv", tiny_sew | {"n_superpixels": 24}, epochs=1, batch_size=3),
              run, progress=False)
    return run


def test_three_grades_train_and_evaluate(graded_run: Path) -> None:
    config = json.loads((graded_run / "config.json").read_text())
    assert config["class_names"] == ["0", "1", "2"] and config["architecture"]["num_classes"] == 3
    metrics = evaluate_slide_run(graded_run)
    assert metrics["class_names"] == ["0", "1", "2"]
    assert len(metrics["confusion_matrix"]) == 3 and metrics["n_slides"] == 3
    assert metrics["auc"] is not None and 0.0 <= metrics["auc"] <= 1.0  # one-vs-rest macro over 3 grades
    predictions = pd.read_csv(graded_run / "eval" / "predictions.csv")
    assert [c for c in predictions.columns if c.startswith("prob_")] == ["prob_0", "prob_1", "prob_2"]
    assert sorted(predictions["true"]) == [0, 1, 2]
