"""Tissue detection against the synthetic slides' own tissue masks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from pathfocus.errors import InputError, NoTissueError
from pathfocus.slide.reader import open_slide
from pathfocus.slide.tissue import TissueConfig, detect_tissue, slide_tissue, tissue_polygons


def _truth_mask(cohort: Path, slide_id: str, name: str) -> np.ndarray:
    return np.asarray(Image.open(cohort / "masks" / f"{slide_id}_{name}.png")) > 0


def test_detected_tissue_matches_the_drawn_tissue(cohort: Path, truth: pd.DataFrame) -> None:
    for row in truth.itertuples():
        with open_slide(row.path) as slide:
            tissue = slide_tissue(slide)
        expected = _truth_mask(cohort, row.slide_id, "tissue")
        assert tissue.mask.shape == expected.shape  # 8 um/px thumbnail = mask grid
        iou = (tissue.mask & expected).sum() / (tissue.mask | expected).sum()
        assert iou > 0.9, f"{row.slide_id}: IoU {iou:.3f}"
        assert tissue.base_per_pixel == pytest.approx(16.0)
        assert tissue.fraction == pytest.approx(row.tissue_fraction, abs=0.05)


def test_blank_slide_has_no_tissue_and_says_which(bad_slides: dict[str, Path]) -> None:
    with open_slide(bad_slides["blank"]) as slide, pytest.raises(NoTissueError, match="blank.tiff"):
        slide_tissue(slide)


def test_flat_or_grey_images_give_empty_masks() -> None:
    assert not detect_tissue(np.full((64, 64, 3), 240, np.uint8)).any()
    noisy_glass = np.random.default_rng(0).integers(230, 245, (64, 64, 1)).repeat(3, axis=2).astype(np.uint8)
    assert not detect_tissue(noisy_glass).any()


def test_fixed_threshold_and_morphology_options() -> None:
    image = np.full((100, 100, 3), 245, np.uint8)
    image[20:80, 20:80] = (230, 150, 200)  # pink square, saturation ~0.35
    image[45:50, 45:50] = 245  # a small hole (25 px = 1600 um2 at 8 um/px) is filled
    image[5:7, 90:92] = (230, 150, 200)  # a 4-pixel speck is dropped
    mask = detect_tissue(image, TissueConfig(saturation_threshold=0.2))
    assert mask[20:80, 20:80].all() and mask.sum() == 3600
    assert not detect_tissue(image, TissueConfig(saturation_threshold=0.5)).any()
    with pytest.raises(InputError, match="saturation_threshold"):
        TissueConfig(saturation_threshold=1.5)


def test_polygons_outline_the_mask_in_level0_pixels() -> None:
    mask = np.zeros((50, 60), bool)
    mask[10:30, 5:25] = True  # 20 x 20
    mask[35:45, 40:55] = True  # 10 x 15
    polygons = tissue_polygons(mask, base_per_pixel=16.0)
    assert len(polygons) == 2
    areas = sorted(
        abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2 for x, y in (p.T for p in polygons)
    )
    assert areas == pytest.approx([150 * 256, 400 * 256], rel=0.02)
    first = min(polygons, key=lambda p: p[:, 0].min())  # the 20 x 20 square spans pixels [5, 25) x [10, 30)
    assert first[:, 0].min() == pytest.approx(80, abs=1) and first[:, 0].max() == pytest.approx(400, abs=1)
    assert first[:, 1].min() == pytest.approx(160, abs=1) and first[:, 1].max() == pytest.approx(480, abs=1)


def test_closing_ignores_what_lies_outside_the_image() -> None:
    """detect_tissue's closing equals scikit-image's (mode="ignore") on masks touching the border."""
    from scipy import ndimage
    from skimage import morphology

    from pathfocus.slide.tissue import close_mask

    rng = np.random.default_rng(0)
    for radius in (1, 2, 3):
        disk = morphology.disk(radius)
        for _ in range(20):
            mask = ndimage.binary_dilation(rng.random((40, 50)) > 0.96)
            mask[:, : rng.integers(0, 6)] = True
            np.testing.assert_array_equal(close_mask(mask, radius), morphology.closing(mask, disk))
