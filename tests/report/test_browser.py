"""The report in a real browser: Debian's headless Chromium opens the file, and we read back console
errors, requests, every image's decoded size and a screenshot through the DevTools protocol."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pathfocus.report.browser import check_page, find_chromium
from pathfocus.report.document import build_report

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "ensure-chromium.sh"


@pytest.fixture(scope="module")
def chromium() -> str:
    """Chromium, installed by the project's script when missing; a skip only when that cannot happen
    (never on CI, where a missing browser is a failure)."""
    found = find_chromium()
    if found is None and SCRIPT.is_file():
        subprocess.run(["bash", str(SCRIPT)], check=False, timeout=600)
        found = find_chromium()
    if found is None:
        reason = f"Chromium is not installed and {SCRIPT.name} could not install it (not root or offline)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return found


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
