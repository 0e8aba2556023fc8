"""The heatmap picture of `pathfocus analyze`: readable at any slide size, with a colour bar and legend.

The analysis itself works on an 8 um/px thumbnail (about 140 px across a small real slide), far too
small to look at. The picture is drawn on a larger view of the slide instead: at least
:data:`PICTURE_LONG_SIDE` px on its long side (the slide's own size when it is smaller), read from the
pyramid level nearest that resolution (never level 0 of a big slide), with the low-resolution score map
upsampled onto it. A panel on the right holds the colour bar and what the outlines mean.
"""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

if TYPE_CHECKING:
    from pathfocus.slide.reader import Slide

PICTURE_LONG_SIDE = 1024
# A base picture that would need more pixels than this read from the pyramid (a big slide without
# levels) is replaced by the analysis thumbnail, upsampled.
MAX_BASE_READ_PIXELS = 64_000_000
BAR_TITLES = {"sew": "SEW focus (0-1)", "mil": "attention (top tile = 1)"}
BOX_TITLES = {"sew": "windows read at high magnification", "mil": "top-attention tiles"}


def picture_size(slide_size: tuple[int, int], thumbnail_size: tuple[int, int]) -> tuple[int, int]:
    """(w, h) of the picture: long side at least PICTURE_LONG_SIDE px (or the thumbnail's, if larger),
    never larger than the slide's own level-0 size."""
    width, height = slide_size
    long_side = min(max(width, height), max(PICTURE_LONG_SIDE, *thumbnail_size))
    factor = long_side / max(width, height)
    return max(1, round(width * factor)), max(1, round(height * factor))


def base_picture(thumbnail: np.ndarray, slide: Slide | None, size: tuple[int, int]) -> np.ndarray:
    """The slide at ``size`` (w, h): the analysis thumbnail when it is at least that large (on most real
    slides it is, and reading it again would repeat the analysis's read), else read from the pyramid
    when ``slide`` is given and the read is affordable, else the thumbnail enlarged."""
    if slide is not None and max(thumbnail.shape[:2]) < max(size):
        mpp = slide.mpp * max(slide.dimensions) / max(size)
        _, read_size, _ = slide.read_plan(size, mpp)
        if read_size[0] * read_size[1] <= MAX_BASE_READ_PIXELS:
            return np.ascontiguousarray(slide.read_region((0, 0), size, mpp))
    image = Image.fromarray(np.ascontiguousarray(thumbnail[..., :3]).astype(np.uint8))
    return np.asarray(image.resize(size, Image.Resampling.BICUBIC))


def with_colour_bar(picture: Image.Image, method: str, lesion_drawn: bool, box_colour: tuple[int, int, int],
                    lesion_colour: tuple[int, int, int]) -> Image.Image:
    """``picture`` with a panel on its right: the inferno colour bar (0-1) and a legend of the outlines.

    The picture's pixels are pasted unchanged at (0, 0), so they stay aligned with the slide
    (``heatmap_slide_box`` in the JSON says where the slide lies).
    """
    from matplotlib import colormaps
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.colorbar import ColorbarBase
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    width, height = picture.size
    panel = max(220, round(0.25 * height))
    total = width + panel
    dpi = 100
    font = max(8.0, min(16.0, height / 70))
    figure = Figure(figsize=(total / dpi, height / dpi), dpi=dpi, facecolor="white")
    left = (width + 0.12 * panel) / total
    bar = figure.add_axes((left, 0.45, 0.12 * panel / total, 0.48))
    ColorbarBase(bar, cmap=colormaps["inferno"], norm=Normalize(0.0, 1.0))
    bar.set_ylabel(BAR_TITLES.get(method, "score (0-1)"), fontsize=font)
    bar.tick_params(labelsize=font * 0.85)
    handles = [Patch(facecolor="none", edgecolor=np.asarray(box_colour) / 255, linewidth=2,
                     label=textwrap.fill(BOX_TITLES.get(method, "regions"), 20))]
    if lesion_drawn:
        handles.append(Patch(facecolor="none", edgecolor=np.asarray(lesion_colour) / 255, linewidth=2,
                             label="annotated lesion"))
    figure.legend(handles=handles, loc="upper left", bbox_to_anchor=((width + 0.04 * panel) / total, 0.38),
                  fontsize=font * 0.85, frameon=False, handlelength=1.2)
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    composed = Image.fromarray(np.asarray(canvas.buffer_rgba())[..., :3].copy())
    composed.paste(picture.convert("RGB"), (0, 0))
    return composed
