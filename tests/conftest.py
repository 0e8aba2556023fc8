"""Suite-wide settings (never reach a model hub, keep torch to the machine's two cores) and the real
slides of tests/data/real with a check of their analyses."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from pathfocus.report.browser import find_chromium

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

REAL_SLIDES = Path(__file__).resolve().parent / "data" / "real"
CHROMIUM_SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "ensure-chromium.sh"


@pytest.fixture(scope="session")
def real_slides() -> dict[str, Path]:
    """The three small real slides of tests/data/real (attribution in SOURCES.md there)."""
    return {"cmu": REAL_SLIDES / "CMU-1-Small-Region.svs",
            "tcga": REAL_SLIDES / "TCGA-CR-7395-01A-01-TS1.svs",
            "fluorescence": REAL_SLIDES / "fluorescence-DAPI.ndpi"}


def _check_real_analysis(out: Path, slide: Path, slide_mpp: float | None = None) -> dict:
    """The analysis of a real slide in ``out``: every region on tissue, a readable heatmap, the GeoJSON."""
    import json

    import numpy as np
    from PIL import Image

    from pathfocus.slide.reader import open_slide
    from pathfocus.slide.tiling import tissue_fractions
    from pathfocus.slide.tissue import slide_tissue

    document = json.loads((out / f"{slide.stem}.json").read_text())
    assert document["regions"], document
    with open_slide(slide, mpp=slide_mpp) as opened:
        tissue = slide_tissue(opened)
        width, height = opened.dimensions
    for region in document["regions"]:
        assert 0 <= region["x"] < width and 0 <= region["y"] < height
        share = tissue_fractions(tissue, np.array([[region["x"], region["y"]]]), region["w"])[0]
        assert share >= 0.4, f"region {region} of {slide.name} is {share:.0%} tissue"
    assert document["slide_path"] == str(slide.resolve())
    assert (Path(document["run"]) / "config.json").is_file()  # the run that made it, for the viewer's panel
    x0, y0, x1, y1 = document["heatmap_slide_box"]
    assert (x0, y0) == (0, 0) and max(x1, y1) == min(1024, max(width, height))
    assert abs(x1 / y1 - width / height) < 0.01
    with Image.open(out / f"{slide.stem}_heatmap.png") as picture:
        assert picture.size[1] == y1 and picture.size[0] > x1 + 150  # the colour bar panel on the right
    geojson = json.loads((out / f"{slide.stem}.geojson").read_text())
    assert len(geojson["features"]) == len(document["regions"])
    return document


@pytest.fixture(scope="session")
def check_real_analysis():
    """``check(out, slide, slide_mpp=None)``: asserts an analysis folder's outputs for a real slide."""
    return _check_real_analysis


@pytest.fixture(scope="session")
def chromium() -> str:
    """Chromium for the browser tests, installed by the project's script when missing; a skip only when
    that cannot happen (never on CI, where a missing browser is a failure)."""
    found = find_chromium()
    if found is None and CHROMIUM_SCRIPT.is_file():
        subprocess.run(["bash", str(CHROMIUM_SCRIPT)], check=False, timeout=600)
        found = find_chromium()
    if found is None:
        reason = (f"Chromium is not installed and {CHROMIUM_SCRIPT.name} could not install it (not root or "
                  "offline)")
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return found
