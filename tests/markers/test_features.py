"""RegionFeatures: round trips, validation and the plain-table form."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pathfocus.errors import InputError
from pathfocus.markers.features import RegionFeatures, as_region_features, read_region_features


def _regions(n: int = 5, dim: int = 3, crops: bool = False) -> RegionFeatures:
    rng = np.random.default_rng(0)
    return RegionFeatures(
        slide_ids=[f"s{i % 2}" for i in range(n)],
        boxes=rng.integers(0, 1000, (n, 4)),
        focus=rng.random(n),
        lesion=rng.random(n),
        features=rng.normal(size=(n, dim)),
        crops=rng.integers(0, 255, (n, 8, 8, 3), dtype=np.uint8) if crops else None,
    )


def test_frame_round_trip_keeps_every_value(tmp_path):
    regions = _regions()
    frame = regions.to_frame()
    assert list(frame.columns) == ["slide_id", "x", "y", "w", "h", "focus", "lesion", "f0", "f1", "f2"]
    frame.to_csv(tmp_path / "f.csv", index=False)
    back = read_region_features(tmp_path / "f.csv")
    np.testing.assert_array_equal(back.slide_ids, regions.slide_ids)
    np.testing.assert_allclose(back.boxes, regions.boxes)
    np.testing.assert_allclose(back.features, regions.features)
    np.testing.assert_allclose(back.focus, regions.focus)
    np.testing.assert_allclose(back.lesion, regions.lesion)


def test_feature_columns_are_ordered_numerically_not_alphabetically():
    frame = _regions(dim=12).to_frame()
    order = (10, 2, 0, 11, 1, 3, 4, 5, 6, 7, 8, 9)
    shuffled = frame[["slide_id", "x", "y", "w", "h", "focus", "lesion"] + [f"f{i}" for i in order]]
    back = RegionFeatures.from_frame(shuffled)
    np.testing.assert_allclose(back.features, frame[[f"f{i}" for i in range(12)]].to_numpy())


def test_centres_subset_and_concat():
    regions = _regions(crops=True)
    np.testing.assert_allclose(regions.centres, regions.boxes[:, :2] + regions.boxes[:, 2:] / 2)
    first = regions.subset(np.arange(5) < 2)
    joined = RegionFeatures.concat([first, regions.subset(np.arange(5) >= 2)])
    np.testing.assert_allclose(joined.features, regions.features)
    assert joined.crops is not None and joined.crops.shape == (5, 8, 8, 3)


def test_as_region_features_accepts_a_plain_table():
    frame = _regions().to_frame()
    assert len(as_region_features(frame)) == 5
    with pytest.raises(InputError, match="RegionFeatures or a DataFrame"):
        as_region_features([1, 2])


@pytest.mark.parametrize(("change", "message"), [
    (lambda f: f.drop(columns=["focus"]), "lacks the columns"),
    (lambda f: f.drop(columns=["f0", "f1", "f2"]), "no feature columns"),
    (lambda f: f.assign(f1=np.nan), "empty cells"),
    (lambda f: f.assign(x="left"), "non-numeric"),
    (lambda f: f.iloc[:0], "holds no regions"),
])
def test_bad_tables_are_refused_with_a_reason(change, message):
    with pytest.raises(InputError, match=message):
        RegionFeatures.from_frame(change(_regions().to_frame()))


def test_mismatched_lengths_are_refused():
    with pytest.raises(InputError, match="disagree"):
        RegionFeatures(["a", "b"], np.zeros((3, 4)), np.zeros(2), np.zeros(2), np.zeros((2, 3)))


def test_missing_file_is_named(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        read_region_features(tmp_path / "nope.csv")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(InputError, match="not a readable CSV"):
        read_region_features(tmp_path / "empty.csv")
    pd.DataFrame({"a": [1]}).to_csv(tmp_path / "other.csv", index=False)
    with pytest.raises(InputError, match="slide_id"):
        read_region_features(tmp_path / "other.csv")
