"""Lesion annotations in three formats agree, and localisation scores count what lies on the lesion."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pathfocus.analysis.localisation import score_regions, summarise
from pathfocus.data.annotations import LesionMask, find_annotation, read_lesion_mask
from pathfocus.errors import InputError
from pathfocus.units import Region

SLIDE = (4096, 2048)  # level-0 (w, h) at 0.5 um/px: 16 level-0 px per 8 um cell
SQUARE = [(1024, 512), (2048, 512), (2048, 1536), (1024, 1536)]  # level-0 polygon: 1024 x 1024 px


def _geojson(path: Path, classification: str = "Tumor") -> Path:
    ring = [[x, y] for x, y in [*SQUARE, SQUARE[0]]]
    exclusion = [[[3000, 100], [3200, 100], [3200, 300], [3000, 300], [3000, 100]]]
    path.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "geometry": {"type": "Polygon", "coordinates": [ring]},
                        "properties": {"classification": {"name": classification}},
                    },
                    {
                        "type": "Feature",
                        "geometry": {"type": "Polygon", "coordinates": exclusion},
                        "properties": {"classification": {"name": "Exclusion"}},
                    },
                ],
            }
        )
    )
    return path


def _xml(path: Path) -> Path:
    coordinates = "".join(f'<Coordinate Order="{i}" X="{x}" Y="{y}"/>' for i, (x, y) in enumerate(SQUARE))
    path.write_text(
        f'<?xml version="1.0"?><ASAP_Annotations><Annotations>'
        f'<Annotation Name="_0" Type="Polygon" PartOfGroup="_0"><Coordinates>{coordinates}'
        f"</Coordinates></Annotation>"
        f'<Annotation Name="_1" Type="Polygon" PartOfGroup="_2"><Coordinates>'
        f'<Coordinate Order="0" X="3000" Y="100"/><Coordinate Order="1" X="3200" Y="100"/>'
        f'<Coordinate Order="2" X="3200" Y="300"/></Coordinates></Annotation>'
        f"</Annotations></ASAP_Annotations>"
    )
    return path


def _png(path: Path) -> Path:
    mask = np.zeros((SLIDE[1] // 16, SLIDE[0] // 16), np.uint8)
    mask[512 // 16 : 1536 // 16, 1024 // 16 : 2048 // 16] = 255
    Image.fromarray(mask).save(path)
    return path


@pytest.mark.parametrize("make", [_geojson, _xml, _png], ids=["geojson", "asap-xml", "png"])
def test_three_formats_give_the_same_lesion(tmp_path: Path, make) -> None:  # type: ignore[no-untyped-def]
    suffix = {"_geojson": ".geojson", "_xml": ".xml", "_png": "_lesion.png"}[make.__name__]
    path = make(tmp_path / f"s1{suffix}")
    assert find_annotation(tmp_path, "s1") == path
    lesion = read_lesion_mask(path, SLIDE, 0.5)
    boxes = np.array(
        [
            [1024, 512, 1024, 1024],  # exactly the lesion
            [1536, 512, 1024, 512],  # half on it
            [3000, 100, 200, 200],  # the exclusion: not lesion
            [0, 0, 512, 512],
        ]
    )
    np.testing.assert_allclose(lesion.fraction(boxes), [1.0, 0.5, 0.0, 0.0], atol=0.02)


def test_scores_count_regions_on_the_lesion() -> None:
    mask = np.zeros((10, 10), bool)
    mask[:5, :5] = True
    lesion = LesionMask(mask, cell=10.0)  # 10 level-0 px per cell: the lesion is the top-left 50 x 50 px
    on, half, off = Region(0, 0, 20, 20), Region(40, 0, 20, 20), Region(60, 60, 20, 20)
    score = score_regions("s", [off, on, half], lesion)
    assert score.hit and score.precision == pytest.approx(2 / 3)  # "half" is 50 % lesion >= 25 %
    assert score.fractions == pytest.approx([0.0, 1.0, 0.5])
    missed = score_regions("t", [off], lesion)
    summary = summarise([score, missed])
    assert summary == {
        "lesion_hit_rate": 0.5,
        "precision_at_k": pytest.approx(1 / 3),
        "n_localised_slides": 2,
    }
    assert summarise([])["lesion_hit_rate"] is None


def test_bad_annotation_files_are_one_clear_error(tmp_path: Path) -> None:
    broken = tmp_path / "x.geojson"
    broken.write_text("{not json")
    with pytest.raises(InputError, match="x.geojson is not readable GeoJSON"):
        read_lesion_mask(broken, SLIDE, 0.5)
    bad_xml = tmp_path / "y.xml"
    bad_xml.write_text("<ASAP_Annotations><Annotations>")
    with pytest.raises(InputError, match="y.xml is not readable ASAP XML"):
        read_lesion_mask(bad_xml, SLIDE, 0.5)
