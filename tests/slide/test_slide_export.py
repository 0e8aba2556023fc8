"""GeoJSON in the shape QuPath imports."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pathfocus.errors import InputError
from pathfocus.slide.export import polygons_to_geojson, regions_to_geojson, write_geojson
from pathfocus.units import Region


def test_regions_become_closed_rectangles_with_scores() -> None:
    regions = [Region(100, 200, 512, 256, score=0.9), Region(0, 0, 10, 20, score=0.1)]
    collection = regions_to_geojson(regions, properties=[{"rank": 1}, {"rank": 2}])
    assert collection["type"] == "FeatureCollection" and len(collection["features"]) == 2
    first = collection["features"][0]
    assert first["type"] == "Feature" and first["geometry"]["type"] == "Polygon"
    ring = first["geometry"]["coordinates"][0]
    assert ring == [[100, 200], [612, 200], [612, 456], [100, 456], [100, 200]]
    props = first["properties"]
    assert props["objectType"] == "annotation"
    assert props["classification"]["name"] == "focus" and len(props["classification"]["color"]) == 3
    assert props["measurements"] == {"score": pytest.approx(0.9)} and props["rank"] == 1
    with pytest.raises(InputError, match="one per region"):
        regions_to_geojson(regions, properties=[{"rank": 1}])


def test_polygons_and_merged_file(tmp_path: Path) -> None:
    square = np.array([[0, 0], [100, 0], [100, 100], [0, 100]], float)
    tissue = polygons_to_geojson([square], classification="tissue")
    ring = tissue["features"][0]["geometry"]["coordinates"][0]
    assert ring[0] == ring[-1] and len(ring) == 5
    assert tissue["features"][0]["properties"]["measurements"]["area_px"] == pytest.approx(10_000)
    path = write_geojson(tmp_path / "out.geojson", tissue, regions_to_geojson([Region(1, 2, 3, 4, 0.5)]))
    loaded = json.loads(path.read_text())
    assert loaded["type"] == "FeatureCollection"
    assert [f["properties"]["classification"]["name"] for f in loaded["features"]] == ["tissue", "focus"]
    with pytest.raises(InputError, match="3"):
        polygons_to_geojson([square[:2]])
