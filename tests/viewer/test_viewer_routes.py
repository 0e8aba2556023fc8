"""The viewer's routes through Starlette's TestClient: the slide list, details with predictions and
overlays, Deep Zoom tiles, image overlays, a corrupt tile and a slide that fails to open."""

from __future__ import annotations

import io
import logging
import re

import pytest
from PIL import Image

from pathfocus.viewer.app import static_dir


def test_lists_the_slides_it_was_given_by_id(client):
    slides = client.get("/api/slides").json()
    ids = [slide["id"] for slide in slides]
    assert sorted(ids) == ["corrupt_tiles", "notaslide", "slide_000", "slide_001", "truncated"]
    assert all("/" not in slide["name"] for slide in slides)  # names, never paths


def test_page_and_its_scripts_come_from_the_server(client):
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "default-src 'self'" in page.headers["content-security-policy"]
    for source in re.findall(r'(?:src|href)="([^"]+)"', page.text):
        if not source.startswith("data:"):
            assert client.get(f"/{source}").status_code == 200, source
    assert client.get("/static/openseadragon/images/zoomin_rest.png").status_code == 200


def test_nothing_in_the_page_points_off_this_server():
    for path in [*static_dir().glob("*.html"), *static_dir().glob("*.js"), *static_dir().glob("*.css")]:
        text = path.read_text()
        urls = set(re.findall(r"https?://[^\s\"'`)]+", text)) - {"http://www.w3.org/2000/svg"}
        assert urls == set(), path.name


def test_details_give_metadata_predictions_and_layers(client):
    details = client.get("/api/slides/slide_000").json()
    assert details["error"] is None
    assert details["dimensions"] == [2048, 2048] and details["mpp"] == 0.5 and details["magnification"] == 20
    assert [a["method"] for a in details["analyses"]] == ["SEW", "exhaustive baseline"]
    sew = details["analyses"][0]
    assert sew["label"] == "tumour" and sew["probabilities"] == {"normal": 0.2, "tumour": 0.8}
    assert sew["run"]["encoder"] == "test_resnet" and sew["run"]["method"] == "sew"
    layers = {layer["label"]: layer for layer in details["layers"]}
    assert set(layers) == {"Tissue", "SEW focus heatmap", "SEW regions", "exhaustive baseline attention",
                           "exhaustive baseline top-attention tiles", "Lesion annotation"}
    regions = layers["SEW regions"]["shapes"]
    assert [r["x"] for r in regions] == [512, 1280] and regions[0]["label"].startswith("#1 0.90 (lesion 0.95")
    assert layers["SEW regions"]["visible"] and not layers["exhaustive baseline attention"]["visible"]
    assert details["dzi"]["Image"]["Url"] == "tiles/slide_000/"
    assert details["dzi"]["Image"]["Size"] == {"Width": "2048", "Height": "2048"}


def test_tiles_are_deep_zoom_tiles(client):
    top = client.get("/tiles/slide_000/11/0_0.jpeg")  # 2048 px: Deep Zoom level 11 is full resolution
    assert top.status_code == 200 and top.headers["content-type"] == "image/jpeg"
    with Image.open(io.BytesIO(top.content)) as tile:
        assert tile.size == (255, 255)  # 254 + the 1 px overlap on its inner sides
    thumbnail = client.get("/tiles/slide_000/7/0_0.png")  # 128 px: the whole slide in one tile
    with Image.open(io.BytesIO(thumbnail.content)) as tile:
        assert tile.format == "PNG" and tile.size == (128, 128)
    assert client.get("/tiles/slide_000/11/99_0.jpeg").status_code == 404
    assert client.get("/tiles/slide_000/12/0_0.jpeg").status_code == 404
    assert client.get("/tiles/slide_000/11/0_0.gif").status_code == 404


@pytest.mark.parametrize("key", ["tissue", "heatmap-1", "lesion"])
def test_image_overlays_are_pngs_over_the_whole_slide(client, key):
    layers = {layer["key"]: layer for layer in client.get("/api/slides/slide_000").json()["layers"]}
    response = client.get(f"/{layers[key]['url']}")
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    with Image.open(io.BytesIO(response.content)) as image:
        width, height = image.size
    assert width == height > 0  # the slide is square: no legend or colour bar beside it
    if key == "tissue":
        assert width == 128  # at 8 um/px
    assert client.get("/overlays/slide_000/nothing.png").status_code == 404


def test_a_corrupt_tile_is_an_error_tile_and_a_log_line(client, caplog):
    details = client.get("/api/slides/corrupt_tiles").json()
    assert details["error"] is None  # the header and the upper pyramid levels are fine
    with caplog.at_level(logging.ERROR, logger="pathfocus.viewer.app"):
        response = client.get("/tiles/corrupt_tiles/11/1_1.jpeg")
    assert response.status_code == 500 and response.headers["content-type"] == "image/jpeg"
    with Image.open(io.BytesIO(response.content)) as tile:
        assert tile.size == (256, 256)
    assert "corrupt_tiles" in response.headers["x-pathfocus-error"]
    assert any("corrupt_tiles" in record.getMessage() for record in caplog.records)
    assert client.get("/tiles/corrupt_tiles/8/0_0.jpeg").status_code == 200  # the server and slide go on
    assert client.get("/tiles/slide_000/11/1_1.jpeg").status_code == 200


@pytest.mark.parametrize(("slide_id", "words"), [("truncated", "truncated"), ("notaslide", "not a slide")])
def test_a_slide_that_fails_to_open_says_why_in_one_sentence(client, slide_id, words):
    details = client.get(f"/api/slides/{slide_id}").json()
    assert words in details["error"] and f"{slide_id}.svs" in details["error"]
    assert details["error"].count(". ") == 0 and "\n" not in details["error"]
    assert details["layers"] == [] and "dzi" not in details
    assert client.get(f"/tiles/{slide_id}/0/0_0.jpeg").status_code == 500
    assert client.get("/api/slides/slide_001").json()["error"] is None


def test_any_geojson_becomes_a_layer_of_outlines(demo_like, tmp_path, caplog):
    from pathfocus.viewer.overlays import OverlayFinder
    from pathfocus.viewer.slides import build_library

    (tmp_path / "slide_000_broken.geojson").write_text("{not json")
    finder = OverlayFinder(geojson=[demo_like["analysis"] / "sew", tmp_path])
    entry = build_library([demo_like["slides"]]).get("slide_000")
    layers = [layer for layer in finder.describe(entry)["layers"] if layer["key"].startswith("geojson")]
    assert [layer["label"] for layer in layers] == ["GeoJSON slide_000.geojson",
                                                   "GeoJSON slide_000_broken.geojson"]
    first = layers[0]["shapes"]
    assert len(first) == 2 and first[0]["type"] == "polygon" and first[0]["rings"][0][0] == [512.0, 768.0]
    assert layers[1]["shapes"] == [] and "slide_000_broken.geojson" in caplog.text
