"""GeoJSON that QuPath imports as annotations (File > Import objects, or drag and drop).

Coordinates are level-0 pixels, which is what QuPath uses for a slide's image plane. Each feature says
``objectType: annotation`` and carries a ``classification`` (name + RGB colour) and ``measurements``
(QuPath >= 0.4 reads them as a name -> number mapping), so focus scores show up in its measurement table.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pathfocus.errors import InputError
from pathfocus.fileio import write_json
from pathfocus.units import Region

CLASS_COLOURS: dict[str, tuple[int, int, int]] = {
    "focus": (255, 140, 0),
    "tissue": (80, 160, 80),
    "lesion": (200, 0, 0),
    "tumor": (200, 0, 0),
    "stroma": (150, 200, 150),
}
DEFAULT_COLOUR = (40, 90, 200)


def _feature(
    ring: Sequence[Sequence[float]],
    classification: str,
    measurements: Mapping[str, float],
    extra: Mapping[str, Any] | None,
) -> dict[str, Any]:
    coords = [[float(x), float(y)] for x, y in ring]
    if coords[0] != coords[-1]:
        coords.append(coords[0])  # GeoJSON rings are closed
    properties: dict[str, Any] = {
        "objectType": "annotation",
        "classification": {
            "name": classification,
            "color": list(CLASS_COLOURS.get(classification, DEFAULT_COLOUR)),
        },
        "isLocked": False,
        "measurements": {str(k): float(v) for k, v in measurements.items()},
    }
    if extra:
        properties.update(extra)
    return {
        "type": "Feature",
        "geometry": {"type": "Polygon", "coordinates": [coords]},
        "properties": properties,
    }


def regions_to_geojson(
    regions: Sequence[Region],
    classification: str = "focus",
    properties: Sequence[Mapping[str, Any]] | Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Rectangles as a FeatureCollection; each region's score becomes the measurement ``score``.

    ``properties`` adds fields to every feature (a mapping) or to each in turn (one mapping per region).
    """
    if isinstance(properties, Sequence) and len(properties) != len(regions):
        msg = f"got {len(properties)} property mappings for {len(regions)} regions; pass one per region"
        raise InputError(msg)
    features = []
    for index, region in enumerate(regions):
        extra = properties[index] if isinstance(properties, Sequence) else properties
        ring = [
            (region.x, region.y),
            (region.x + region.w, region.y),
            (region.x + region.w, region.y + region.h),
            (region.x, region.y + region.h),
        ]
        feature = _feature(ring, classification, {"score": region.score}, extra)
        feature["properties"].setdefault("name", f"{classification} {index + 1}")
        features.append(feature)
    return {"type": "FeatureCollection", "features": features}


def polygons_to_geojson(polygons: Sequence[np.ndarray], classification: str = "tissue") -> dict[str, Any]:
    """Level-0 (x, y) outlines (e.g. from :func:`~pathfocus.slide.tissue.tissue_polygons`) as annotations."""
    features = []
    for polygon in polygons:
        points = np.asarray(polygon, dtype=np.float64)
        if points.ndim != 2 or points.shape[1] != 2 or len(points) < 3:
            msg = f"a polygon needs at least 3 (x, y) vertices, got an array of shape {points.shape}"
            raise InputError(msg)
        features.append(_feature(points.tolist(), classification, {"area_px": _shoelace(points)}, None))
    return {"type": "FeatureCollection", "features": features}


def _shoelace(points: np.ndarray) -> float:
    x, y = points[:, 0], points[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2.0)


def write_geojson(path: str | os.PathLike[str], *feature_collections: Mapping[str, Any]) -> Path:
    """Merge FeatureCollections into one file, written atomically."""
    features: list[Any] = []
    for collection in feature_collections:
        if collection.get("type") != "FeatureCollection":
            msg = f"expected GeoJSON FeatureCollections, got type {collection.get('type')!r}"
            raise InputError(msg)
        features.extend(collection["features"])
    return write_json(path, {"type": "FeatureCollection", "features": features})
