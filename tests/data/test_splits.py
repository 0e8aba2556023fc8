"""Splits: group-disjoint, complete, deterministic, both classes in every subset."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pathfocus.data.breakhis import build_index
from pathfocus.data.breakhis_splits import make_splits
from pathfocus.errors import InputError


@pytest.fixture
def index(breakhis_tree: Path) -> pd.DataFrame:
    return build_index(breakhis_tree)


def _merged(index: pd.DataFrame, splits: pd.DataFrame) -> pd.DataFrame:
    return splits.merge(index, on="path", how="left", validate="many_to_one")


@pytest.mark.parametrize("group_by", ["slide_group", "patient_id"])
def test_groups_never_straddle_subsets(index: pd.DataFrame, group_by: str) -> None:
    splits = make_splits(index, folds=6, seed=3, group_by=group_by)
    merged = _merged(index, splits)
    subsets_per_group = merged.groupby(["fold", group_by])["subset"].nunique()
    assert (subsets_per_group == 1).all()
    if group_by == "slide_group":  # leakage-safe default: the 13412 and 22549* folders always travel together
        for fold, part in merged.groupby("fold"):
            assert part.loc[part["slide_group"] == 13412, "subset"].nunique() == 1, fold
            assert part.loc[part["patient_id"].str.contains("22549"), "subset"].nunique() == 1, fold


def test_patient_grouping_can_separate_shared_slides(index: pd.DataFrame) -> None:
    """Grouping by patient folder is weaker: over enough folds, 13412's two folders do get separated."""
    merged = _merged(index, make_splits(index, folds=20, seed=0, test_size=0.6, group_by="patient_id"))
    split_apart = merged[merged["slide_group"] == 13412].groupby("fold")["subset"].nunique()
    assert (split_apart > 1).any()


def test_every_image_labelled_in_every_fold(index: pd.DataFrame) -> None:
    splits = make_splits(index, folds=5)
    assert list(splits.columns) == ["path", "fold", "subset"]
    assert len(splits) == 5 * len(index)
    for _, part in splits.groupby("fold"):
        assert sorted(part["path"]) == sorted(index["path"])
    assert set(splits["subset"]) == {"train", "val", "test"}
    assert splits["subset"].notna().all()


def test_both_classes_and_all_subtypes_covered(index: pd.DataFrame) -> None:
    merged = _merged(index, make_splits(index, folds=10, seed=1))
    for (fold, subset), part in merged.groupby(["fold", "subset"]):
        assert set(part["label"]) == {"benign", "malignant"}, (fold, subset)
    # every subtype stratum with two or more groups (F; DC, which holds the 13412 group) is tested
    for fold, part in merged[merged["subset"] == "test"].groupby("fold"):
        assert set(part["subtype"]) >= {"F", "DC"}, fold


def test_subtypes_kept_in_train_when_cohort_allows(tmp_path: Path) -> None:
    """With three groups per subtype, each subtype lands in train and test in every fold."""
    index = _cohort(3)
    merged = _merged(index, make_splits(index, folds=8, seed=2))
    for (fold, subset), part in merged.groupby(["fold", "subset"]):
        expected = set(index["subtype"]) if subset != "val" else set()
        assert set(part["subtype"]) >= expected, (fold, subset)
        assert set(part["label"]) == {"benign", "malignant"}, (fold, subset)


def _cohort(groups_per_subtype: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for code in ("A", "F", "PT", "TA", "DC", "LC", "MC", "PC"):
        for g in range(groups_per_subtype):
            for i in range(int(rng.integers(5, 40))):
                label = "benign" if code in ("A", "F", "PT", "TA") else "malignant"
                rows.append(
                    {
                        "path": f"{code}{g}-{i}.png",
                        "patient_id": f"{code}{g}",
                        "slide_group": f"{code}{g}",
                        "subtype": code,
                        "label": label,
                    }
                )
    return pd.DataFrame(rows)


def test_shares_near_target() -> None:
    index = _cohort(6)
    merged = _merged(index, make_splits(index, folds=10, seed=0, test_size=0.3, val_size=0.2))
    per_fold = merged.groupby("fold")["subset"].value_counts(normalize=True).unstack()
    assert per_fold["test"].between(0.2, 0.4).all()
    assert abs(per_fold["test"].mean() - 0.3) < 0.05
    val_of_train = per_fold["val"] / (per_fold["val"] + per_fold["train"])
    assert abs(val_of_train.mean() - 0.2) < 0.07


def test_deterministic_and_seeded(index: pd.DataFrame) -> None:
    a = make_splits(index, folds=3, seed=7)
    b = make_splits(index.sample(frac=1.0, random_state=1), folds=3, seed=7)  # row order does not matter
    key = ["fold", "path"]
    pd.testing.assert_frame_equal(
        a.sort_values(key).reset_index(drop=True), b.sort_values(key).reset_index(drop=True)
    )
    c = make_splits(index, folds=3, seed=8)
    assert not a["subset"].equals(c["subset"])
    folds = a.pivot(index="path", columns="fold", values="subset")
    assert not (folds[1] == folds[2]).all() or not (folds[2] == folds[3]).all()  # folds are independent draws


def test_no_validation_when_asked(index: pd.DataFrame) -> None:
    splits = make_splits(index, folds=2, val_size=0.0)
    assert set(splits["subset"]) == {"train", "test"}


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"folds": 0}, "--folds"),
        ({"test_size": 1.0}, "--test-size"),
        ({"test_size": 0.0}, "--test-size"),
        ({"val_size": -0.1}, "--val-size"),
        ({"group_by": "hospital"}, "group_by column 'hospital'"),
        ({"stratify": "grade"}, "stratify column 'grade'"),
    ],
)
def test_bad_arguments(index: pd.DataFrame, kwargs: dict, match: str) -> None:
    with pytest.raises(InputError, match=match):
        make_splits(index, **kwargs)
