"""Synthetic BreakHis: the tree indexes like the real one, masks line up, structures scale as designed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from pathfocus.data.breakhis import MAGNIFICATIONS, SUBTYPES, build_index
from pathfocus.data.breakhis_splits import make_splits
from pathfocus.data.synthetic.patches import make_synthetic_patches, mask_path, plan_patients, render_patch
from pathfocus.data.synthetic.tissue import PatientStyle
from pathfocus.errors import InputError


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth")
    return make_synthetic_patches(
        out, patients_per_subtype=2, images_per_patient=1, image_size=48, write_masks=True
    )


def test_tree_indexes_with_all_subtypes_and_magnifications(tree: Path) -> None:
    index = build_index(tree)
    assert len(index) == 8 * 2 * 4
    assert set(index["subtype"]) == set(SUBTYPES)
    assert index.groupby("subtype")["magnification"].apply(set).map(lambda s: s == set(MAGNIFICATIONS)).all()
    assert set(index["year"]) == {14, 15}
    assert index["slide_id"].str.contains("[A-Z]$").any()  # letter suffixes
    shared = index[index["slide_group"] == 13412]
    assert set(shared["subtype"]) == {"DC", "LC"}
    assert shared.groupby("subtype").size().nunique() == 1  # identical image counts, as in the real data
    assert (index.groupby("slide_group")["patient_id"].nunique() > 1).sum() == 2  # 13412 and the AB/CD slide
    assert (tree / "BreaKHis_v1/histology_slides/breast/malignant/SOB/ductal_carcinoma").is_dir()


def test_masks_parallel_and_on_dark_nuclei(tree: Path) -> None:
    index = build_index(tree)
    for path in index["path"]:
        mask = np.asarray(Image.open(mask_path(path, tree)))
        image = np.asarray(Image.open(path)).astype(float)
        assert mask.shape == image.shape[:2] and set(np.unique(mask)) <= {0, 255}
        if mask.any() and (~mask.astype(bool)).any():  # nuclei (haematoxylin) are darker than the rest
            inside, outside = image[mask > 0].mean(), image[mask == 0].mean()
            assert inside < outside, path
    assert sum(np.asarray(Image.open(mask_path(p, tree))).any() for p in index["path"]) >= 0.9 * len(index)
    with pytest.raises(InputError, match="not inside"):
        mask_path("/elsewhere/x.png", tree)


def test_render_shapes_and_determinism() -> None:
    image, mask = render_patch("DC", 100, 64, np.random.default_rng(1))
    assert image.shape == (64, 64, 3) and image.dtype == np.uint8
    assert mask.shape == (64, 64) and mask.dtype == bool
    again, _ = render_patch("DC", 100, 64, np.random.default_rng(1))
    assert np.array_equal(image, again)
    with pytest.raises(InputError, match="unknown subtype"):
        render_patch("XX", 100, 64, np.random.default_rng(1))
    with pytest.raises(InputError, match="unknown magnification"):
        render_patch("A", 50, 64, np.random.default_rng(1))


def _median_nucleus_area(subtype: str, magnification: int, erode: bool = False, n: int = 4) -> float:
    """Median area (px) of connected mask components; eroding first separates touching nuclei."""
    style = PatientStyle.draw(np.random.default_rng(0))
    areas = []
    for seed in range(n):
        _, mask = render_patch(subtype, magnification, 96, np.random.default_rng(seed), style)
        labels, _ = ndimage.label(ndimage.binary_erosion(mask) if erode else mask)
        areas.extend(np.bincount(labels.ravel())[1:])
    return float(np.median(areas))


def test_magnification_scales_structures() -> None:
    areas = [_median_nucleus_area("TA", mag) for mag in (40, 100, 200, 400)]
    assert areas == sorted(areas)
    assert areas[-1] > 5 * areas[0]  # the unit grows (400/40)**0.55 = 3.5x, so areas ~ 12x


def test_malignant_nuclei_larger_than_benign() -> None:
    benign = max(_median_nucleus_area(code, 200, erode=True) for code in ("A", "F", "PT", "TA"))
    malignant = min(_median_nucleus_area(code, 200, erode=True) for code in ("DC", "LC", "MC", "PC"))
    assert malignant > 1.5 * benign


def test_same_seed_same_tree(tmp_path: Path) -> None:
    a = make_synthetic_patches(
        tmp_path / "a",
        patients_per_subtype=1,
        images_per_patient=1,
        image_size=32,
        magnifications=(40,),
        seed=5,
    )
    b = make_synthetic_patches(
        tmp_path / "b",
        patients_per_subtype=1,
        images_per_patient=1,
        image_size=32,
        magnifications=(40,),
        seed=5,
    )
    files_a = sorted(p.relative_to(a) for p in a.rglob("*.png"))
    assert files_a == sorted(p.relative_to(b) for p in b.rglob("*.png")) and len(files_a) == 8
    assert all((a / f).read_bytes() == (b / f).read_bytes() for f in files_a)


def test_patient_plan_and_bad_arguments(tmp_path: Path) -> None:
    patients = plan_patients(3, seed=0)
    assert len(patients) == 24 and len({p.folder for p in patients}) == 24
    with pytest.raises(InputError, match="at least 1"):
        plan_patients(0)
    with pytest.raises(InputError, match="at least 1"):
        make_synthetic_patches(tmp_path, images_per_patient=0)
    with pytest.raises(InputError, match="unknown magnification"):
        make_synthetic_patches(tmp_path, magnifications=(60,))


def test_default_sized_cohort_splits_cleanly(tree: Path) -> None:
    index = build_index(tree)
    merged = make_splits(index, folds=3).merge(index, on="path")
    assert (merged.groupby(["fold", "slide_group"])["subset"].nunique() == 1).all()
    assert (merged.groupby(["fold", "subset"])["label"].nunique() == 2).all()
