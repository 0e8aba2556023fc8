"""The synthetic cohort: files, balanced and graded labels, visible lesions, survival tied to pattern P."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter
from PIL import Image
from scipy.ndimage import binary_erosion
from skimage.color import rgb2hed

from pathfocus.data.synthetic.slides import make_synthetic_cohort, survival_times
from pathfocus.slide.reader import open_slide


def test_cohort_files_and_tables(cohort: Path, truth: pd.DataFrame) -> None:
    labels = pd.read_csv(cohort / "labels.csv")
    clinical = pd.read_csv(cohort / "clinical.csv")
    assert list(labels.columns) == ["slide_id", "path", "label"]
    assert list(clinical.columns) == ["slide_id", "time", "event"]
    assert sorted(labels["label"]) == [0, 0, 1, 1]
    assert (clinical["time"] > 0).all() and set(clinical["event"]) <= {0, 1}
    for row in truth.itertuples():
        assert Path(row.path).exists()
        lesion = np.asarray(Image.open(cohort / "masks" / f"{row.slide_id}_lesion.png")) > 0
        tissue = np.asarray(Image.open(cohort / "masks" / f"{row.slide_id}_tissue.png")) > 0
        assert lesion.shape == (128, 128) and not (lesion & ~tissue).any()
        assert lesion.sum() / tissue.sum() == pytest.approx(row.lesion_fraction)
        assert (row.lesion_fraction > 0) == (row.label == 1)
        assert 0.0 < row.pattern_fraction < 0.3


def test_lesions_and_pattern_are_darker_hematoxylin_than_stroma(cohort: Path, truth: pd.DataFrame) -> None:
    row = truth[truth["label"] == 1].iloc[0]
    with open_slide(row["path"]) as slide:
        thumb = slide.thumbnail(8.0)
    hema = rgb2hed(thumb)[..., 0]

    def mask(name: str) -> np.ndarray:
        return np.asarray(Image.open(cohort / "masks" / f"{row['slide_id']}_{name}.png")) > 0

    lesion, pattern, tissue = binary_erosion(mask("lesion")), binary_erosion(mask("pattern")), mask("tissue")
    stroma = binary_erosion(tissue & ~mask("lesion") & ~mask("pattern"))
    assert lesion.any() and pattern.any() and stroma.any()
    assert hema[lesion].mean() > hema[stroma].mean() + 0.02
    assert hema[pattern].mean() > hema[stroma].mean() + 0.02


def test_graded_cohort_has_balanced_grades_growing_lesions(tmp_path: Path) -> None:
    out = make_synthetic_cohort(tmp_path / "graded", n_slides=6, seed=2, grades=3, size=512)
    truth = pd.read_csv(out / "truth.csv")
    assert sorted(truth["label"]) == [0, 0, 1, 1, 2, 2]
    by_grade = truth.groupby("label")[["lesion_fraction", "severity"]].mean()
    assert by_grade.loc[0, "lesion_fraction"] == 0
    assert (
        by_grade["lesion_fraction"].is_monotonic_increasing and by_grade["severity"].is_monotonic_increasing
    )
    with open_slide(truth["path"].iloc[0]) as slide:
        assert slide.dimensions == (512, 512) and slide.mpp == 0.5


def test_survival_hazard_rises_with_pattern_share() -> None:
    rng = np.random.default_rng(0)
    pattern = rng.uniform(0.02, 0.25, size=1500)
    time, event = survival_times(pattern, rng)
    assert 0.25 < 1 - event.mean() < 0.35  # about 30 % censored
    frame = pd.DataFrame({"z": (pattern - pattern.mean()) / pattern.std(), "time": time, "event": event})
    fitted = CoxPHFitter().fit(frame, duration_col="time", event_col="event")
    assert fitted.params_["z"] == pytest.approx(1.0, abs=0.15)
