"""The viewer in a real browser: the server on a free local port, Debian's headless Chromium loads the
page, zooms in (Deep Zoom tiles are requested and answered), toggles and fades overlays, opens a slide
that fails, and finds no console errors and no request leaving the server."""

from __future__ import annotations

import io
import os
import re
import shutil
import time

import numpy as np
import pytest
from PIL import Image

from pathfocus.report.live_page import open_live_page
from pathfocus.viewer.app import build_server

TILE = re.compile(r"/tiles/slide_000/(\d+)/\d+_\d+\.jpeg$")


@pytest.fixture(scope="module")
def server(demo_like):
    started = build_server([demo_like["slides"], demo_like["bad"]], [demo_like["analysis"]],
                           geojson=[demo_like["analysis"] / "mil"], port=0).start()
    yield started
    started.stop()


def _levels(responses: list[dict]) -> list[int]:
    return [int(match[1]) for r in responses if r["status"] == 200 and (match := TILE.search(r["url"]))]


def test_the_viewer_works_in_chromium(server, chromium, tmp_path):
    with open_live_page(f"{server.url}#slide_000", chromium=chromium) as page:
        page.wait_until("document.body.dataset.ready === 'slide_000'")
        page.wait_until("pathfocus.viewer.world.getItemAt(0).getFullyLoaded()")
        before = _levels(page.responses("/tiles/"))
        assert before, "no Deep Zoom tile was answered"

        page.evaluate("pathfocus.viewer.viewport.zoomBy(4).applyConstraints(); null")
        page.wait_until("pathfocus.viewer.world.getItemAt(0).getFullyLoaded() && "
                        "pathfocus.viewer.viewport.getZoom() > 3")
        deadline = time.monotonic() + 30
        while max(after := _levels(page.responses("/tiles/"))) <= max(before) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert max(after) > max(before), (before, after)  # finer tiles were asked for and answered
        assert all(r["status"] == 200 for r in page.responses("/tiles/"))

        # SEW's regions are on by default, with their scores; the baseline's attention is off
        assert page.evaluate("document.querySelectorAll('.region-box').length") == 2
        labels = page.evaluate("[...document.querySelectorAll('.region-label')].map(e => e.textContent)")
        assert labels[0].startswith("#1 0.90")
        keys = page.evaluate("Object.fromEntries(Object.values(pathfocus.layers).map("
                             "e => [e.layer.label, e.layer.key]))")
        attention = keys["exhaustive baseline attention"]
        page.wait_until("Object.values(pathfocus.layers).every("  # the visible image layers are in
                        "e => !e.visible || e.layer.kind !== 'image' || e.item)")
        items = page.evaluate("pathfocus.viewer.world.getItemCount()")
        assert items == 3  # the slide, SEW's focus heatmap and the lesion annotation
        page.click(f'input[type=checkbox][data-key="{attention}"]')
        page.wait_until(f"pathfocus.layers['{attention}'].item?.getOpacity() > 0")
        assert page.evaluate("pathfocus.viewer.world.getItemCount()") == items + 1
        assert [r["status"] for r in page.responses(f"/overlays/slide_000/{attention}.png")] == [200]
        page.evaluate(f"const f = document.querySelector('input[type=range][data-key=\"{attention}\"]');"
                      "f.value = '25'; f.dispatchEvent(new Event('input'));")
        assert page.evaluate(f"pathfocus.layers['{attention}'].item.getOpacity()") == pytest.approx(0.25)
        regions = keys["SEW regions"]
        page.click(f'input[type=checkbox][data-key="{regions}"]')
        assert page.evaluate("[...document.querySelectorAll('.region-box')].every("
                             "e => getComputedStyle(e).display === 'none')")
        page.click(f'input[type=checkbox][data-key="{regions}"]')
        assert page.evaluate("[...document.querySelectorAll('.region-box')].every("
                             "e => getComputedStyle(e).display !== 'none')")
        page.click('input[type=checkbox][data-key="geojson-0"]')  # the baseline's GeoJSON, as SVG outlines
        assert page.evaluate("document.querySelectorAll('svg.shape-layer path').length") == 3
        assert "Predicted: tumour" in page.evaluate("document.getElementById('panel').innerText")
        assert "0.5000 µm/px" in page.evaluate("document.getElementById('info').innerText")
        page.wait_until("pathfocus.viewer.world.getItemAt(0).getFullyLoaded()")
        shot = page.screenshot()

        page.click('#slide-list li[data-id="truncated"] button')
        page.wait_until("document.body.dataset.ready === 'truncated'")
        message = page.evaluate("document.getElementById('message').innerText")
        assert "truncated" in message and "truncated.svs" in message

        assert page.console_errors() == []
        origin = server.url.rstrip("/")
        assert [url for url in page.requests() if not url.startswith((origin, "data:"))] == []

    with Image.open(io.BytesIO(shot)) as image:
        pixels = np.asarray(image.convert("RGB"))
    assert pixels.shape[:2] == (800, 1280) and pixels.std() > 20
    (tmp_path / "viewer.png").write_bytes(shot)
    if target := os.environ.get("PATHFOCUS_VIEWER_SCREENSHOT"):
        shutil.copyfile(tmp_path / "viewer.png", target)
