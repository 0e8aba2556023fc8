"""The heatmap picture of `analyze`: at least 1024 px on the long side (the slide's own size when smaller),
regions drawn where they lie, and a colour bar panel beside the slide."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pathfocus.analysis.heatmap_picture import PICTURE_LONG_SIDE, picture_size
from pathfocus.analysis.slide_analysis import SlideAnalysis
from pathfocus.analysis.slide_outputs import BOX_COLOUR, write_slide_outputs
from pathfocus.units import Region


@pytest.mark.parametrize(
    ("slide", "thumbnail", "expected"),
    [((2220, 2967), (139, 185), (766, 1024)),  # CMU-1-Small-Region: its 8 um/px thumbnail is 139 x 185
     ((800, 600), (50, 38), (800, 600)),  # a slide smaller than 1024 px keeps its own size
     ((100_000, 50_000), (3125, 1562), (3125, 1562))],  # a thumbnail already larger is kept
)
def test_picture_size(slide: tuple[int, int], thumbnail: tuple[int, int], expected: tuple[int, int]) -> None:
    assert picture_size(slide, thumbnail) == expected


def _analysis(size: tuple[int, int], method: str) -> SlideAnalysis:
    """A slide of ``size`` level-0 px at 0.5 um/px, analysed on an 8 um/px thumbnail (16 px per cell)."""
    width, height = size[0] // 16, size[1] // 16
    thumbnail = np.full((height, width, 3), 235, np.uint8)
    thumbnail[height // 4: 3 * height // 4, width // 4: 3 * width // 4] = (200, 120, 170)
    heatmap = np.zeros((height, width), np.float32)
    heatmap[height // 4: height // 2, width // 4: width // 2] = 1.0
    region = Region(size[0] // 4, size[1] // 4, 512, 512, 0.9)
    return SlideAnalysis("s", ["normal", "tumour"], [0.3, 0.7], [region], 0.1, 1000, thumbnail, 8.0, heatmap,
                         {"method": method, "slide_mpp": 0.5})


@pytest.mark.parametrize(("size", "method"), [((4096, 2048), "sew"), ((640, 480), "mil")])
def test_the_picture_is_large_with_a_colour_bar(tmp_path: Path, size: tuple[int, int], method: str) -> None:
    paths = write_slide_outputs(tmp_path, _analysis(size, method))
    document = json.loads(paths["json"].read_text())
    x0, y0, x1, y1 = document["heatmap_slide_box"]
    assert (x0, y0) == (0, 0) and max(x1, y1) == min(PICTURE_LONG_SIDE, max(size))
    with Image.open(paths["heatmap"]) as image:
        pixels = np.asarray(image.convert("RGB")).astype(int)
    assert pixels.shape[0] == y1 and pixels.shape[1] >= x1 + 200
    panel = pixels[:, x1:]
    colourful = (panel.max(axis=-1) - panel.min(axis=-1)) > 60
    assert colourful.mean() > 0.01  # the inferno bar (and legend swatch) are drawn
    scale = max(size) / max(x1, y1)  # level-0 px per picture px
    left, top = round(size[0] / 4 / scale), round(size[1] / 4 / scale)
    edge = pixels[top: top + 2, left: left + round(512 / scale)]  # the region's top edge
    assert (np.abs(edge - BOX_COLOUR).sum(axis=-1) < 30).mean(axis=1).max() > 0.8  # outlined where it lies
    assert "slide_path" not in document  # only known when the slide itself was passed
