"""The prototype gallery: a row of typical member regions per prototype, so a pathologist can name it.

Region images come from the crops the feature extractor kept or, failing that, are read from the slides
(small, at a coarse resolution); a region whose slide cannot be read shows as a grey tile, so a cohort
described only by a feature table still gets its gallery.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from pathfocus.errors import PathfocusError
from pathfocus.markers.features import RegionFeatures

log = logging.getLogger(__name__)

TILE = 96


def _read_crop(path: str, box: np.ndarray) -> np.ndarray | None:
    from pathfocus.slide.reader import open_slide

    x, y, w, h = (int(round(v)) for v in box)
    try:
        with open_slide(path) as slide:
            return slide.read_region((x, y), (TILE, TILE), slide.mpp * max(w, h) / TILE)
    except (PathfocusError, OSError) as error:
        log.debug("no gallery image for region (%d, %d) of %s: %s", x, y, path, error)
        return None


def region_images(regions: RegionFeatures, indices: np.ndarray, slides: pd.DataFrame | None) -> list:
    """An RGB image (or None) per requested region: stored crop, else read from its slide."""
    images = []
    for index in indices:
        if regions.crops is not None:
            images.append(np.asarray(regions.crops[index]))
        elif slides is not None and regions.slide_ids[index] in slides.index:
            images.append(_read_crop(str(slides.loc[regions.slide_ids[index], "path"]), regions.boxes[index]))
        else:
            images.append(None)
    return images


def _tile(image: np.ndarray | None) -> np.ndarray:
    """A TILE x TILE RGB tile (grey when there is no image), resized by nearest neighbour if needed."""
    if image is None:
        return np.full((TILE, TILE, 3), 200, np.uint8)
    image = np.asarray(image)[..., :3]
    rows = np.arange(TILE) * image.shape[0] // TILE
    columns = np.arange(TILE) * image.shape[1] // TILE
    return image[rows][:, columns].astype(np.uint8)


def gallery_figure(regions: RegionFeatures, examples: dict[int, np.ndarray], slides: pd.DataFrame | None,
                   titles: dict[int, str]):
    """One image: a row per prototype with its most typical regions left to right, labelled on the left.

    The tiles are composed into a single array (one ``imshow``), which draws far faster than a subplot
    per region.
    """
    from matplotlib.figure import Figure

    gap = 4
    columns = max(1, max(len(members) for members in examples.values()))
    clusters = sorted(examples)
    mosaic = np.full((len(clusters) * (TILE + gap), columns * (TILE + gap), 3), 255, np.uint8)
    missing = 0
    for row, cluster in enumerate(clusters):
        for column, image in enumerate(region_images(regions, examples[cluster], slides)):
            top, left = row * (TILE + gap), column * (TILE + gap)
            mosaic[top:top + TILE, left:left + TILE] = _tile(image)
            missing += image is None
    if missing:
        log.warning("%d gallery regions have no image (no crops kept and their slides cannot be read); they "
                    "show as grey tiles", missing)
    figure = Figure(figsize=(1.1 * columns + 1.6, 1.1 * len(clusters) + 0.5))
    axes = figure.add_axes((0.2, 0.02, 0.78, 0.9))
    axes.imshow(mosaic)
    axes.set_xticks([])
    axes.set_yticks([(TILE + gap) * row + TILE / 2 for row in range(len(clusters))])
    axes.set_yticklabels([titles[cluster] for cluster in clusters], fontsize=7)
    axes.set_title("prototype gallery: most typical regions of each prototype", fontsize=9)
    return figure
