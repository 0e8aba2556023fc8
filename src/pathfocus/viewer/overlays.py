"""What the viewer can lay over a slide, found from the files ``pathfocus analyze`` and annotators write.

Per slide (matched by file stem, as ``analyze`` names its outputs) and per analysis folder: ``<id>.json``
(prediction, probabilities, regions with scores, method), ``<id>_heatmap.png`` (the focus or attention map
blended over the thumbnail) and the regions; an analysis folder may hold one method's outputs or one
sub-folder per method (``analysis/sew``, ``analysis/mil``). Lesion annotations are looked up as analysis
does (``<id>.geojson``, ``<id>.xml``, ``<id>_lesion.png``, also under ``masks/``) in the annotation folders
given and beside the slide's folder. Any further GeoJSON (``<id>*.geojson`` in the folders given) becomes a
layer of outlines. Tissue is detected on the slide's thumbnail, as analysis does.

Layers carry server-chosen keys only; the files behind them are never named by the browser.
"""

from __future__ import annotations

import io
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from pathfocus.errors import InputError, PathfocusError
from pathfocus.viewer.slides import SlideEntry

log = logging.getLogger(__name__)

METHOD_NAMES = {"sew": "SEW", "mil": "exhaustive baseline"}
HEATMAP_LABELS = {"sew": "focus heatmap", "mil": "attention"}
REGION_LABELS = {"sew": "regions", "mil": "top-attention tiles"}
REGION_COLOURS = {"sew": "#00e6ff", "mil": "#ff8c00"}
HEATMAP_COLOUR = "#f98e09"  # inferno's orange
TISSUE_RGBA = (40, 90, 200, 110)
LESION_RGBA = (60, 220, 60, 130)
MAX_SHAPES = 20_000
# What describes the run that made a prediction, when the analysis JSON has it.
RUN_KEYS = ("run", "method", "encoder", "branches", "global_weight", "n_tiles_read", "n_tiles", "seconds",
            "pixels_read", "lesion_hit")


@dataclass
class Layer:
    """One overlay: an image over the whole slide (``kind="image"``) or outlines (``kind="shapes"``)."""

    key: str
    label: str
    kind: str
    opacity: float = 0.6
    visible: bool = False
    colour: str = "#ffffff"
    width: float = 1.0  # image layers: width in slide widths (a mask grid may overhang by a cell)
    shapes: list[dict[str, Any]] = field(default_factory=list)
    source: Path | None = None  # server side only
    crop: tuple[int, int, int, int] | None = None  # where the slide lies in ``source`` (x0, y0, x1, y1)

    def to_json(self, slide_id: str) -> dict[str, Any]:
        document = {"key": self.key, "label": self.label, "kind": self.kind, "opacity": self.opacity,
                    "visible": self.visible, "colour": self.colour}
        if self.kind == "image":
            document |= {"url": f"overlays/{slide_id}/{self.key}.png", "width": self.width}
        else:
            document["shapes"] = self.shapes
        return document


class OverlayFinder:
    """Finds every overlay of a slide in the analysis, annotation and GeoJSON folders given."""

    def __init__(self, analysis: list[Path] | None = None, annotations: list[Path] | None = None,
                 geojson: list[Path] | None = None) -> None:
        self.analysis_dirs = _with_subfolders([Path(p) for p in analysis or []])
        self.annotation_dirs = [Path(p) for p in annotations or []]
        self.geojson_paths = [Path(p) for p in geojson or []]
        self._images: dict[tuple[str, str], bytes] = {}

    def describe(self, entry: SlideEntry) -> dict[str, Any]:
        """The analyses (predictions and their runs) and the layers of ``entry``, for the page."""
        analyses, layers = [], []
        if entry.error is None and entry.info().get("mpp"):
            layers.append(Layer("tissue", "Tissue", "image", opacity=0.5, colour=_hex(TISSUE_RGBA)))
        for index, folder in enumerate(self.analysis_dirs):
            document = _analysis_json(folder / f"{entry.stem}.json")
            if document is None:
                continue
            method = str(document.get("method", folder.name))
            name = METHOD_NAMES.get(method, method)
            analyses.append(_prediction(document, name, folder))
            heatmap = folder / f"{entry.stem}_heatmap.png"
            if heatmap.is_file():
                layers.append(Layer(f"heatmap-{index}", f"{name} {HEATMAP_LABELS.get(method, 'heatmap')}",
                                    "image", opacity=0.7, visible=method == "sew", source=heatmap,
                                    colour=HEATMAP_COLOUR,
                                    crop=_box(document.get("heatmap_slide_box"))))
            layers.append(Layer(f"regions-{index}", f"{name} {REGION_LABELS.get(method, 'regions')}",
                                "shapes", opacity=1.0, visible=method == "sew",
                                colour=REGION_COLOURS.get(method, "#ffff00"),
                                shapes=_region_shapes(document)))
        lesion = self._lesion_file(entry)
        if lesion is not None and entry.error is None:
            layers.append(Layer("lesion", "Lesion annotation", "image", opacity=0.6, visible=True,
                                colour=_hex(LESION_RGBA), width=_mask_width(entry, lesion), source=lesion))
        for index, path in enumerate(self._geojson_files(entry)):
            layers.append(Layer(f"geojson-{index}", f"GeoJSON {path.name}", "shapes", opacity=1.0,
                                colour="#ffff00", shapes=geojson_shapes(path)))
        analyses.sort(key=lambda analysis: analysis["method"] != METHOD_NAMES["sew"])  # SEW first
        return {"analyses": analyses, "layers": [layer.to_json(entry.id) for layer in layers],
                "_layers": {layer.key: layer for layer in layers}}

    def image(self, entry: SlideEntry, key: str) -> bytes | None:
        """The PNG of image layer ``key`` of ``entry`` (None when the slide has no such layer)."""
        if (entry.id, key) in self._images:
            return self._images[(entry.id, key)]
        layer = self.describe(entry)["_layers"].get(key)
        if layer is None or layer.kind != "image":
            return None
        if layer.key == "tissue":
            image = _png(_tissue_rgba(entry))
        elif layer.key == "lesion" and layer.source is not None:
            image = _png(_lesion_rgba(entry, layer.source))
        elif layer.source is not None:
            image = layer.source.read_bytes() if layer.crop is None else _cropped(layer.source, layer.crop)
        else:
            return None
        self._images[(entry.id, key)] = image
        return image

    def _lesion_file(self, entry: SlideEntry) -> Path | None:
        """The slide's annotation file: in the folders given, else beside its folder (not an analysis's
        own ``<id>.geojson`` of regions)."""
        from pathfocus.data.annotations import find_annotation

        analysis = {folder.resolve() for folder in self.analysis_dirs}
        for folder in (*self.annotation_dirs, entry.path.parent, entry.path.parent.parent):
            found = find_annotation(folder, entry.stem)
            if found is not None and found.parent.resolve() not in analysis:
                return found
        return None

    def _geojson_files(self, entry: SlideEntry) -> list[Path]:
        found: list[Path] = []
        for path in self.geojson_paths:
            if path.is_file():
                found.append(path)
            elif path.is_dir():
                found.extend(sorted(path.glob(f"{_glob_escape(entry.stem)}*.geojson")))
        return list(dict.fromkeys(found))


def _with_subfolders(folders: list[Path]) -> list[Path]:
    """Each analysis folder, then its immediate sub-folders (one per method), those that hold JSON."""
    found: list[Path] = []
    for folder in folders:
        if not folder.is_dir():
            msg = f"analysis folder {folder} does not exist; pass the --out folder of `pathfocus analyze`"
            raise InputError(msg)
        for candidate in (folder, *sorted(p for p in folder.iterdir() if p.is_dir())):
            if any(candidate.glob("*.json")):
                found.append(candidate)
    return list(dict.fromkeys(found))


def _analysis_json(path: Path) -> dict[str, Any] | None:
    """The analysis document at ``path``; None when absent or not an analysis (a warning when unreadable)."""
    if not path.is_file():
        return None
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        log.warning("viewer: skipping %s: not readable JSON (%s)", path, error)
        return None
    if not isinstance(document, dict) or "probabilities" not in document:
        return None
    return document


def _box(value: Any) -> tuple[int, int, int, int] | None:
    """``heatmap_slide_box`` of an analysis JSON: the part of its PNG that is the slide (a legend may sit
    beside it); None when absent (older analyses: the whole PNG is the slide)."""
    if isinstance(value, list) and len(value) == 4 and all(isinstance(v, int | float) for v in value):
        x0, y0, x1, y1 = (int(v) for v in value)
        return (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None
    return None


def _cropped(path: Path, box: tuple[int, int, int, int]) -> bytes:
    with Image.open(path) as image:
        buffer = io.BytesIO()
        image.crop(box).save(buffer, "PNG")
    return buffer.getvalue()


def _prediction(document: dict[str, Any], name: str, folder: Path) -> dict[str, Any]:
    classes = [str(c) for c in document.get("class_names", [])]
    probabilities = [float(p) for p in document.get("probabilities", [])]
    return {"method": name, "label": str(document.get("label", "")), "folder": str(folder),
            "probabilities": dict(zip(classes, probabilities, strict=False)),
            "run": {key: document[key] for key in RUN_KEYS if key in document}}


def _region_shapes(document: dict[str, Any]) -> list[dict[str, Any]]:
    lesion = document.get("lesion_scores") or []
    shapes = []
    for rank, region in enumerate(document.get("regions", [])[:MAX_SHAPES]):
        label = f"#{rank + 1} {float(region.get('score', 0.0)):.2f}"
        if rank < len(lesion):
            label += f" (lesion {float(lesion[rank]):.2f})"
        shapes.append({"type": "rect", "x": float(region["x"]), "y": float(region["y"]),
                       "w": float(region["w"]), "h": float(region["h"]), "label": label})
    return shapes


def geojson_shapes(path: Path) -> list[dict[str, Any]]:
    """Polygons, lines and points of a GeoJSON file as level-0 pixel rings (empty, logged, if unreadable)."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        log.warning("viewer: skipping %s: not readable GeoJSON (%s)", path, error)
        return []
    features = document.get("features", [document]) if isinstance(document, dict) else document
    shapes: list[dict[str, Any]] = []
    for feature in features if isinstance(features, list) else []:
        if not isinstance(feature, dict) or len(shapes) >= MAX_SHAPES:
            continue
        properties = feature.get("properties") or {}
        classification = properties.get("classification") or {}
        label = str(properties.get("name") or (classification.get("name") if isinstance(classification, dict)
                                               else classification) or "")
        geometry = feature.get("geometry") or {}
        kind, coordinates = geometry.get("type"), geometry.get("coordinates") or []
        try:
            if kind == "Polygon":
                shapes.append({"type": "polygon", "rings": _rings(coordinates), "label": label})
            elif kind == "MultiPolygon":
                shapes.extend({"type": "polygon", "rings": _rings(p), "label": label} for p in coordinates)
            elif kind in ("LineString", "MultiLineString"):
                lines = [coordinates] if kind == "LineString" else coordinates
                shapes.extend({"type": "line", "points": _points(line), "label": label} for line in lines)
            elif kind == "Point":
                shapes.append({"type": "point", "x": float(coordinates[0]), "y": float(coordinates[1]),
                               "label": label})
        except (TypeError, ValueError, IndexError):
            log.warning("viewer: skipping a malformed %s feature of %s", kind, path)
    return shapes


def _rings(polygon: list[Any]) -> list[list[list[float]]]:
    return [_points(ring) for ring in polygon]


def _points(line: list[Any]) -> list[list[float]]:
    return [[float(point[0]), float(point[1])] for point in line]


def _mask_width(entry: SlideEntry, annotation: Path) -> float:
    """Width of a lesion mask's grid in slide widths: polygons are drawn on cells of ``GRID_UM`` that may
    overhang the slide's right edge; a PNG mask spans the slide exactly."""
    from pathfocus.data.annotations import GRID_UM

    info = entry.info()
    if annotation.name.endswith(".png") or not info.get("mpp"):
        return 1.0
    width = info["dimensions"][0]
    cell = max(1.0, GRID_UM / info["mpp"])
    return float(np.ceil(width / cell) * cell / width)


def _tissue_rgba(entry: SlideEntry) -> np.ndarray:
    from pathfocus.slide.tissue import slide_tissue

    slide = entry.opened()["slide"]
    try:
        mask = slide_tissue(slide).mask
    except PathfocusError as error:  # e.g. a fluorescence slide: no layer rather than a broken image
        log.warning("viewer: no tissue overlay for %s: %s", entry.id, error)
        return np.zeros((1, 1, 4), np.uint8)
    return _colour_mask(mask, TISSUE_RGBA)


def _lesion_rgba(entry: SlideEntry, path: Path) -> np.ndarray:
    from pathfocus.data.annotations import read_lesion_mask

    slide = entry.opened()["slide"]
    try:
        lesion = read_lesion_mask(path, slide.dimensions, slide.mpp)
    except PathfocusError as error:
        log.warning("viewer: %s", error)
        return np.zeros((1, 1, 4), np.uint8)
    return _colour_mask(lesion.mask, LESION_RGBA)


def _colour_mask(mask: np.ndarray, rgba: tuple[int, int, int, int]) -> np.ndarray:
    """``rgba`` where ``mask`` is set, with an opaque outline, transparent elsewhere."""
    from scipy import ndimage

    inside = np.asarray(mask, bool)
    edge = inside & ~ndimage.binary_erosion(inside)
    out = np.zeros((*inside.shape, 4), np.uint8)
    out[inside] = rgba
    out[edge] = (*rgba[:3], 255)
    return out


def _png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


def _hex(rgba: tuple[int, ...]) -> str:
    return "#" + "".join(f"{c:02x}" for c in rgba[:3])


def _glob_escape(text: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)
