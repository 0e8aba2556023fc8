"""Lesion annotations of slides: QuPath GeoJSON, ASAP / CAMELYON16 XML polygons, or PNG masks.

An annotation folder holds, per slide, ``<slide_id>.geojson``, ``<slide_id>.xml`` or
``<slide_id>_lesion.png`` (a mask over the whole slide at any scale, e.g. what ``synth slides`` writes).
Polygons are in level-0 pixels. Each is turned into a :class:`LesionMask` on a coarse grid (``grid_um``
microns per cell), which answers the one question training and localisation scoring ask: what share of a
level-0 box is lesion.
"""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pathfocus.errors import InputError

GRID_UM = 8.0
SUFFIXES = (".geojson", ".xml", "_lesion.png")
# QuPath classifications / ASAP groups that mark tissue to leave out rather than lesion
EXCLUDED_NAMES = frozenset({"exclusion", "_2", "other", "ignore", "stroma", "normal"})


@dataclass
class LesionMask:
    """Lesion cells on a grid over the slide: ``mask[row, col]`` covers ``cell`` level-0 pixels square."""

    mask: np.ndarray
    cell: float

    def fraction(self, boxes: np.ndarray) -> np.ndarray:
        """Share of each level-0 box (N x 4: x, y, w, h) that is lesion (summed-area table)."""
        table = np.zeros((self.mask.shape[0] + 1, self.mask.shape[1] + 1), np.float64)
        table[1:, 1:] = self.mask.astype(np.float64).cumsum(0).cumsum(1)
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        x0 = np.clip(np.floor(boxes[:, 0] / self.cell).astype(int), 0, self.mask.shape[1] - 1)
        y0 = np.clip(np.floor(boxes[:, 1] / self.cell).astype(int), 0, self.mask.shape[0] - 1)
        x1 = np.clip(np.ceil((boxes[:, 0] + boxes[:, 2]) / self.cell).astype(int), x0 + 1, self.mask.shape[1])
        y1 = np.clip(np.ceil((boxes[:, 1] + boxes[:, 3]) / self.cell).astype(int), y0 + 1, self.mask.shape[0])
        inside = table[y1, x1] - table[y0, x1] - table[y1, x0] + table[y0, x0]
        return inside / ((x1 - x0) * (y1 - y0))

    @property
    def any(self) -> bool:
        return bool(self.mask.any())


def find_annotation(folder: str | os.PathLike[str], slide_id: str) -> Path | None:
    """The annotation file of ``slide_id`` in ``folder`` (also under ``masks/``), or None."""
    root = Path(folder)
    for base in (root, root / "masks"):
        for suffix in SUFFIXES:
            path = base / f"{slide_id}{suffix}"
            if path.is_file():
                return path
    return None


def read_lesion_mask(path: str | os.PathLike[str], slide_size: tuple[int, int], slide_mpp: float,
                     grid_um: float = GRID_UM) -> LesionMask:
    """The lesion mask of one slide from a GeoJSON, XML or PNG annotation file."""
    path = Path(path)
    width, height = slide_size
    if path.name.endswith(".png"):
        return _png_mask(path, slide_size)
    cell = max(1.0, grid_um / slide_mpp)
    shape = (int(np.ceil(height / cell)), int(np.ceil(width / cell)))
    polygons = _geojson_polygons(path) if path.suffix == ".geojson" else _xml_polygons(path)
    from skimage.draw import polygon as fill

    mask = np.zeros(shape, bool)
    for points in polygons:
        rows, cols = fill(points[:, 1] / cell, points[:, 0] / cell, shape)
        mask[rows, cols] = True
    return LesionMask(mask, cell)


def _png_mask(path: Path, slide_size: tuple[int, int]) -> LesionMask:
    from PIL import Image

    try:
        with Image.open(path) as image:
            mask = np.asarray(image.convert("L")) > 127
    except OSError as error:
        msg = f"{path} is not a readable mask image ({error})"
        raise InputError(msg) from error
    return LesionMask(mask, slide_size[0] / mask.shape[1])


def _geojson_polygons(path: Path) -> list[np.ndarray]:
    """Outer rings of the (Multi)Polygon features not classified as exclusions (QuPath's export)."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        msg = f"{path} is not readable GeoJSON ({error})"
        raise InputError(msg) from error
    features = document.get("features", [document]) if isinstance(document, dict) else document
    rings = []
    for feature in features:
        classification = (feature.get("properties") or {}).get("classification") or {}
        name = str(classification.get("name", "") if isinstance(classification, dict) else classification)
        if name.lower() in EXCLUDED_NAMES:
            continue
        geometry = feature.get("geometry") or {}
        polygons = ([geometry.get("coordinates", [])] if geometry.get("type") == "Polygon"
                    else geometry.get("coordinates", []) if geometry.get("type") == "MultiPolygon" else [])
        rings.extend(np.asarray(polygon[0], dtype=np.float64) for polygon in polygons if polygon)
    return rings


def _xml_polygons(path: Path) -> list[np.ndarray]:
    """Polygons of an ASAP / CAMELYON16 XML (``Annotation/Coordinates/Coordinate X= Y=``), exclusions
    (group ``_2``, as CAMELYON16 marks non-tumour islands) left out."""
    try:
        root = ElementTree.parse(path).getroot()
    except (OSError, ElementTree.ParseError) as error:
        msg = f"{path} is not readable ASAP XML ({error})"
        raise InputError(msg) from error
    polygons = []
    for annotation in root.iter("Annotation"):
        if str(annotation.get("PartOfGroup", "")).lower() in EXCLUDED_NAMES:
            continue
        points = [(float(c.get("X")), float(c.get("Y"))) for c in annotation.iter("Coordinate")]
        if len(points) >= 3:
            polygons.append(np.asarray(points, dtype=np.float64))
    return polygons
