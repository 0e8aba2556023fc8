"""Per-slide files of `pathfocus analyze`: the JSON result, a focus heatmap PNG and a QuPath GeoJSON.

The same three files come out for SEW and the MIL baseline, so users and the report read both alike.
Regions are level-0 boxes; to draw them on the thumbnail the level-0 mpp is taken from
``analysis.extra["slide_mpp"]`` (both analysers put it there) unless the caller passes it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageDraw

from pathfocus.analysis.heatmap_picture import base_picture, picture_size, with_colour_bar
from pathfocus.analysis.localisation import score_regions
from pathfocus.analysis.slide_analysis import SlideAnalysis
from pathfocus.data.annotations import LesionMask
from pathfocus.errors import InputError
from pathfocus.fileio import atomic_path, write_json
from pathfocus.units import Region

if TYPE_CHECKING:
    from pathfocus.slide.reader import Slide

HEATMAP_SUFFIX = "_heatmap.png"
BOX_COLOUR = (0, 230, 255)
LESION_COLOUR = (60, 220, 60)
HEAT_ALPHA = 0.6


def output_paths(out_dir: str | os.PathLike[str], slide_id: str) -> dict[str, Path]:
    """Where the files of ``slide_id`` go (the JSON is written last, so its presence means done)."""
    out = Path(out_dir)
    return {"json": out / f"{slide_id}.json", "heatmap": out / f"{slide_id}{HEATMAP_SUFFIX}",
            "geojson": out / f"{slide_id}.geojson"}


def write_slide_outputs(out_dir: str | os.PathLike[str], analysis: SlideAnalysis,
                        slide_mpp: float | None = None, lesion: LesionMask | None = None,
                        slide: Slide | None = None) -> dict[str, Path]:
    """Write ``<id>.json``, ``<id>_heatmap.png`` and ``<id>.geojson`` atomically; return their paths.

    ``slide_mpp`` (level-0 microns per pixel) defaults to ``analysis.extra["slide_mpp"]``. With the
    slide's ``lesion`` annotation the heatmap outlines it (green) and the JSON says whether a region hit
    it (``lesion_hit``) and how much of each region is lesion (``lesion_fractions``). With the opened
    ``slide`` the picture is drawn on a view read from its pyramid (see
    :mod:`pathfocus.analysis.heatmap_picture`) and the JSON records ``slide_path``; without it on the
    analysis thumbnail, enlarged.
    """
    paths = output_paths(out_dir, analysis.slide_id)
    mpp = slide_mpp if slide_mpp is not None else analysis.extra.get("slide_mpp")
    if mpp is None:
        msg = (f"the analysis of {analysis.slide_id} does not say its level-0 mpp; pass slide_mpp= or put "
               "'slide_mpp' in SlideAnalysis.extra")
        raise InputError(msg)
    thumbnail_scale = float(analysis.thumbnail_mpp) / float(mpp)  # level-0 pixels per thumbnail pixel
    thumb_h, thumb_w = analysis.thumbnail.shape[:2]
    slide_size = slide.dimensions if slide is not None else (round(thumb_w * thumbnail_scale),
                                                             round(thumb_h * thumbnail_scale))
    size = picture_size(slide_size, (thumb_w, thumb_h))
    scale = max(slide_size) / max(size)  # level-0 pixels per picture pixel
    base = base_picture(analysis.thumbnail, slide, size)
    image = render_heatmap(base, analysis.heatmap, analysis.regions, scale)
    document = analysis.to_json()
    lesion_drawn = lesion is not None and lesion.any
    if lesion_drawn:
        outline_lesion(image, lesion, scale)
        score = score_regions(analysis.slide_id, analysis.regions, lesion)
        document |= {"lesion_hit": score.hit, "lesion_fractions": score.fractions}
    method = str(analysis.extra.get("method", ""))
    picture = with_colour_bar(image, method, lesion_drawn, BOX_COLOUR, LESION_COLOUR)
    document["heatmap_slide_box"] = [0, 0, *size]  # where the slide lies in the PNG, (x0, y0, x1, y1)
    if slide is not None:
        document["slide_path"] = str(slide.path.resolve())
    with atomic_path(paths["heatmap"]) as tmp:
        picture.save(tmp, format="PNG")
    write_regions_geojson(paths["geojson"], analysis)
    write_json(paths["json"], document)
    return paths


def outline_lesion(image: Image.Image, lesion: LesionMask, scale: float) -> None:
    """Draw the annotated lesion's outline (green) on a thumbnail-sized image, in place."""
    from scipy import ndimage

    factor = lesion.cell / scale  # thumbnail pixels per lesion-mask cell
    size = image.size
    mask = Image.fromarray(lesion.mask.astype(np.uint8) * 255).resize(
        (max(1, round(lesion.mask.shape[1] * factor)), max(1, round(lesion.mask.shape[0] * factor))),
        Image.Resampling.NEAREST).crop((0, 0, *size))
    inside = np.asarray(mask) > 127
    edge = inside & ~ndimage.binary_erosion(inside, iterations=max(1, round(min(size) / 300)))
    pixels = np.asarray(image).copy()
    pixels[edge] = LESION_COLOUR
    image.paste(Image.fromarray(pixels))


def render_heatmap(thumbnail: np.ndarray, heatmap: np.ndarray, regions: list[Region],
                   scale: float) -> Image.Image:
    """The picture with the [0, 1] heatmap blended in (inferno) and the regions outlined.

    ``thumbnail`` is any view of the whole slide; ``scale`` is level-0 pixels per pixel of it. A heatmap
    on another grid (the analysis thumbnail's) is resized to it first.
    """
    from matplotlib import colormaps

    base = np.asarray(thumbnail, dtype=np.float32)[..., :3]
    heat = np.asarray(heatmap, dtype=np.float32)
    if heat.shape != base.shape[:2]:
        resized = Image.fromarray(heat).resize((base.shape[1], base.shape[0]), Image.Resampling.BILINEAR)
        heat = np.asarray(resized, dtype=np.float32)
    heat = np.clip(np.nan_to_num(heat), 0.0, 1.0)
    colours = colormaps["inferno"](heat)[..., :3].astype(np.float32) * 255.0
    alpha = (HEAT_ALPHA * heat)[..., None]
    blended = (1.0 - alpha) * base + alpha * colours
    image = Image.fromarray(np.clip(blended + 0.5, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    width = max(1, round(min(image.size) / 200))
    for region in regions:
        box = [region.x / scale, region.y / scale, (region.x + region.w) / scale,
               (region.y + region.h) / scale]
        draw.rectangle(box, outline=BOX_COLOUR, width=width)
    return image


def write_regions_geojson(path: Path, analysis: SlideAnalysis) -> Path:
    """The regions as a QuPath-readable GeoJSON FeatureCollection (level-0 pixel coordinates).

    Each region's ``score`` is a QuPath measurement; per-region lists of the same length in
    ``analysis.extra`` (e.g. SEW's ``lesion_scores``) are added as properties.
    """
    from pathfocus.slide.export import regions_to_geojson, write_geojson

    n = len(analysis.regions)
    per_region = {key: value for key, value in analysis.extra.items()
                  if key.endswith("_scores") and isinstance(value, list) and len(value) == n}
    properties = [{"slide_id": analysis.slide_id, "rank": i + 1,
                   **{key: float(value[i]) for key, value in per_region.items()}} for i in range(n)]
    return write_geojson(path, regions_to_geojson(analysis.regions, "focus", properties))
