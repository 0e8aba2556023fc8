"""The report in a real browser: Debian's headless Chromium opens the file, and we read back console
errors, requests, every image's decoded size and a screenshot through the DevTools protocol."""

from __future__ import annotations

import io
import os
import shutil

import numpy as np
from PIL import Image

from pathfocus.report.browser import check_page
from pathfocus.report.document import build_report


def test_report_renders_in_chromium(report_inputs, tmp_path, chromium):
    report = build_report([report_inputs["root"]], tmp_path / "report.html", title="pathfocus report")
    expected_images = report.read_text().count("<img")
    check = check_page(report, chromium=chromium, full_page=True)
    assert check.console_errors == []
    assert check.external_requests == []
    assert check.title == "pathfocus report"
    assert len(check.images) == expected_images > 10
    assert all(image["complete"] and image["width"] > 0 and image["height"] > 0 for image in check.images), [
        image for image in check.images if not image["width"]]
    assert all(image["scheme"] == "data" for image in check.images)
    assert "SEW versus exhaustive" in check.text and "Grad-CAM" in check.text
    with Image.open(io.BytesIO(check.screenshot)) as shot:
        pixels = np.asarray(shot.convert("RGB"))
    assert pixels.shape[1] == 1280 and pixels.shape[0] > 900  # the whole page, not just the viewport
    assert pixels.std() > 20  # something was drawn
    (tmp_path / "report.png").write_bytes(check.screenshot)
    if target := os.environ.get("PATHFOCUS_REPORT_SCREENSHOT"):
        shutil.copyfile(tmp_path / "report.png", target)


def test_the_checker_sees_broken_pages(tmp_path, chromium):
    page = tmp_path / "broken.html"
    page.write_text('<!DOCTYPE html><html><head><title>b</title><link rel="icon" href="data:,"></head><body>'
                    '<img alt="gone" src="missing.png"><script>console.error("boom")</script></body></html>')
    check = check_page(page, chromium=chromium)
    assert any("boom" in error for error in check.console_errors)
    assert any("missing.png" in error for error in check.console_errors)
    assert [image["width"] for image in check.images] == [0]
