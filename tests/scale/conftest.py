"""Slides for the scale tests: a small 40x pyramid and the same slide without its pyramid."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pathfocus.data.synthetic.slide_render import SlideStyle, TileRenderer
from pathfocus.data.synthetic.slide_tiff import write_aperio_tiff
from pathfocus.data.synthetic.slides import SlideRecipe, write_synthetic_slide

RECIPE = SlideRecipe(slide_id="scale", label=1, seed=4, size=4096, mpp=0.25, tissue_share=0.5,
                     lesion_share=0.1, pattern_share=0.1, severity=0.6)


@pytest.fixture(scope="package")
def pyramid(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 4096^2 slide at 0.25 um/px (40x) with levels at 1, 4 and 16 um/px."""
    path = tmp_path_factory.mktemp("scale") / "pyramid.tiff"
    write_synthetic_slide(path, RECIPE)
    return path


@pytest.fixture(scope="package")
def single_level(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same slide as one tiled level and no pyramid (what some TIFF exporters write)."""
    from pathfocus.data.synthetic.slide_layout import LAYOUT_DOWNSAMPLE, make_layout

    rng = np.random.default_rng(RECIPE.seed)
    shape = (RECIPE.size // LAYOUT_DOWNSAMPLE,) * 2
    layout = make_layout(rng, shape, RECIPE.tissue_share, RECIPE.lesion_share, RECIPE.pattern_share)
    renderer = TileRenderer(layout, SlideStyle.random(rng, mpp=RECIPE.mpp, severity=RECIPE.severity))
    path = tmp_path_factory.mktemp("scale") / "single.tiff"
    write_aperio_tiff(path, renderer, (RECIPE.size, RECIPE.size), mpp=RECIPE.mpp, magnification=40,
                      downsamples=(1,))
    return path
