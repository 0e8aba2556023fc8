"""The viewer on the three real slides of tests/data/real: their metadata, Deep Zoom tiles of real tissue,
a slide without mpp, and the fluorescence slide served as an image, its tissue layer left empty with the
reason logged."""

from __future__ import annotations

import io
import logging
import math

import numpy as np
import pytest
from PIL import Image
from starlette.testclient import TestClient

from pathfocus.viewer.app import create_app
from pathfocus.viewer.overlays import OverlayFinder
from pathfocus.viewer.slides import build_library

LOCAL = "http://127.0.0.1:8765"


@pytest.fixture(scope="module")
def real_client(real_slides):
    folder = real_slides["cmu"].parent
    app = create_app(build_library([folder]), OverlayFinder([]))
    with TestClient(app, base_url=LOCAL) as client:
        yield client


def _id_of(client: TestClient, stem: str) -> str:
    ids = {slide["name"]: slide["id"] for slide in client.get("/api/slides").json()}
    return next(slide_id for name, slide_id in ids.items() if name.startswith(stem))


def test_every_real_slide_is_listed(real_client):
    names = sorted(slide["name"] for slide in real_client.get("/api/slides").json())
    assert names == ["CMU-1-Small-Region.svs", "TCGA-CR-7395-01A-01-TS1.svs", "fluorescence-DAPI.ndpi"]


def test_aperio_slide_metadata_and_a_full_resolution_tile_of_tissue(real_client):
    slide_id = _id_of(real_client, "CMU-1")
    details = real_client.get(f"/api/slides/{slide_id}").json()
    assert details["error"] is None
    assert details["dimensions"] == [2220, 2967] and details["mpp"] == pytest.approx(0.499, abs=1e-3)
    top = math.ceil(math.log2(2967))  # Deep Zoom's full-resolution level
    size = details["dzi"]["Image"]["Size"]
    assert (size["Width"], size["Height"]) == ("2220", "2967")
    tile = real_client.get(f"/tiles/{slide_id}/{top}/4_5.jpeg")  # the middle of the slide: H&E tissue
    assert tile.status_code == 200
    with Image.open(io.BytesIO(tile.content)) as image:
        pixels = np.asarray(image.convert("RGB"), dtype=np.float32)
    assert pixels.shape[:2] == (256, 256)
    assert pixels.mean() < 220 and (pixels.max(axis=-1) - pixels.min(axis=-1)).mean() > 20  # stained


def test_a_slide_without_mpp_is_served_and_says_so(real_client):
    slide_id = _id_of(real_client, "TCGA")
    details = real_client.get(f"/api/slides/{slide_id}").json()
    assert details["dimensions"] == [4443, 3567] and details["mpp"] is None
    assert real_client.get(f"/tiles/{slide_id}/8/0_0.jpeg").status_code == 200


def test_the_fluorescence_slide_is_viewable_but_gets_no_tissue(real_client, caplog):
    slide_id = _id_of(real_client, "fluorescence")
    details = real_client.get(f"/api/slides/{slide_id}").json()
    assert details["dimensions"] == [3968, 4864] and details["mpp"] == pytest.approx(0.228, abs=1e-3)
    assert real_client.get(f"/tiles/{slide_id}/9/0_0.jpeg").status_code == 200
    with caplog.at_level(logging.WARNING):
        tissue = real_client.get(f"/overlays/{slide_id}/tissue.png")
    with Image.open(io.BytesIO(tissue.content)) as image:
        assert np.asarray(image.convert("RGBA"))[..., 3].max() == 0  # nothing drawn over the dark background
    assert "fluorescence" in caplog.text
