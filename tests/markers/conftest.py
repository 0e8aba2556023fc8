"""Synthetic region-feature cohorts whose truth we control: a planted pattern drives survival."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest


@dataclass
class FeatureCohort:
    regions: pd.DataFrame  # slide_id, x, y, w, h, focus, lesion, f0..
    clinical: pd.DataFrame  # slide_id, time, event
    pattern_fraction: pd.Series  # per slide: the planted pattern's share of its regions (truth)
    is_pattern: np.ndarray  # per region: drawn from the pattern cluster


def make_feature_cohort(seed: int = 0, n_slides: int = 24, per_slide: int = 16, dim: int = 8,
                        beta: float = 1.5) -> FeatureCohort:
    """Regions from 4 Gaussian clusters; cluster 0 is the pattern, whose per-slide share raises the hazard.

    Hazard = 0.1 * exp(beta * z) with z the standardised pattern fraction; uniform censoring leaves
    about a third of the slides censored.
    """
    rng = np.random.default_rng(seed)
    means = rng.normal(0.0, 3.0, (4, dim))
    fraction = rng.uniform(0.0, 0.6, n_slides)
    ids = [f"S{i:03d}" for i in range(n_slides)]
    parts, flags = [], []
    for slide, share in zip(ids, fraction, strict=True):
        pattern = rng.random(per_slide) < share
        cluster = np.where(pattern, 0, rng.integers(1, 4, per_slide))
        values = means[cluster] + rng.normal(0.0, 1.0, (per_slide, dim))
        frame = pd.DataFrame(values, columns=[f"f{i}" for i in range(dim)])
        frame.insert(0, "slide_id", slide)
        frame.insert(1, "x", rng.integers(0, 20000, per_slide))
        frame.insert(2, "y", rng.integers(0, 20000, per_slide))
        frame.insert(3, "w", 512)
        frame.insert(4, "h", 512)
        frame.insert(5, "focus", rng.random(per_slide))
        frame.insert(6, "lesion", rng.random(per_slide))
        parts.append(frame)
        flags.append(pattern)
    z = (fraction - fraction.mean()) / fraction.std()
    event_time = rng.exponential(1.0 / (0.1 * np.exp(beta * z)))
    censor_time = rng.uniform(0.0, 30.0, n_slides)
    clinical = pd.DataFrame({"slide_id": ids, "time": np.minimum(event_time, censor_time).round(3),
                             "event": (event_time <= censor_time).astype(int)})
    return FeatureCohort(pd.concat(parts, ignore_index=True), clinical,
                         pd.Series(fraction, index=ids), np.concatenate(flags))


def shuffled(clinical: pd.DataFrame, seed: int) -> pd.DataFrame:
    """The same clinical table with (time, event) pairs permuted between slides: no signal left."""
    order = np.random.default_rng(seed).permutation(len(clinical))
    return clinical.assign(time=clinical["time"].to_numpy()[order], event=clinical["event"].to_numpy()[order])


def write_cohort_tables(folder: Path, cohort: FeatureCohort, clinical: pd.DataFrame | None = None) -> dict:
    """labels.csv, clinical.csv and features.csv of a feature cohort under ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    ids = cohort.clinical["slide_id"]
    pd.DataFrame({"slide_id": ids, "path": [f"slides/{s}.tiff" for s in ids], "label": "x"}).to_csv(
        folder / "labels.csv", index=False)
    (cohort.clinical if clinical is None else clinical).to_csv(folder / "clinical.csv", index=False)
    cohort.regions.to_csv(folder / "features.csv", index=False)
    return {"slides": folder / "labels.csv", "clinical": folder / "clinical.csv",
            "features": folder / "features.csv"}


@pytest.fixture(scope="session")
def cohort() -> FeatureCohort:
    return make_feature_cohort(seed=0)


@pytest.fixture(scope="session")
def make_cohort():
    """The cohort factory (tests call it with their own sizes and seeds)."""
    return make_feature_cohort


@pytest.fixture(scope="session")
def write_tables():
    return write_cohort_tables


@pytest.fixture(scope="session")
def shuffle():
    return shuffled
