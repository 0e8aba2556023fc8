"""A demo-like folder for the viewer: two synthetic slides with lesion masks, SEW and baseline analyses
written by analysis's own writer, and one of each bad slide (truncated, not a slide, corrupt tiles)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import tifffile
from starlette.testclient import TestClient

from pathfocus.analysis.slide_analysis import SlideAnalysis
from pathfocus.analysis.slide_outputs import write_slide_outputs
from pathfocus.data.synthetic.slides import make_synthetic_cohort
from pathfocus.slide.reader import open_slide
from pathfocus.units import Region
from pathfocus.viewer.app import create_app
from pathfocus.viewer.overlays import OverlayFinder
from pathfocus.viewer.slides import build_library

SIZE = 2048
THUMBNAIL_MPP = 8.0
LOCAL = "http://127.0.0.1:8765"


def _analysis(slide_path: Path, method: str, boxes: list[tuple[int, int]]) -> SlideAnalysis:
    with open_slide(slide_path) as slide:
        thumbnail = slide.thumbnail(THUMBNAIL_MPP)
    scale = THUMBNAIL_MPP / 0.5
    heat = np.zeros(thumbnail.shape[:2], np.float32)
    regions = []
    for rank, (x, y) in enumerate(boxes):
        regions.append(Region(x, y, 256, 256, score=round(0.9 - 0.2 * rank, 2)))
        heat[int(y / scale):int((y + 256) / scale), int(x / scale):int((x + 256) / scale)] = 1.0 - 0.2 * rank
    extra = {"method": method, "slide_mpp": 0.5, "encoder": "test_resnet"}
    if method == "sew":
        extra["lesion_scores"] = [0.95 - 0.3 * rank for rank in range(len(regions))]
    return SlideAnalysis(slide_id=slide_path.stem, class_names=["normal", "tumour"], probabilities=[0.2, 0.8],
                         regions=regions, seconds=0.5, pixels_read=65536 * len(regions), thumbnail=thumbnail,
                         thumbnail_mpp=THUMBNAIL_MPP, heatmap=heat, extra=extra)


@pytest.fixture(scope="session")
def demo_like(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``slides/`` (two slides), ``masks/`` beside it, ``analysis/{sew,mil}``, ``bad/`` and ``outside/``."""
    root = tmp_path_factory.mktemp("viewer")
    cohort = make_synthetic_cohort(root / "cohort", n_slides=2, seed=3, size=SIZE)
    slides = sorted((cohort / "slides").glob("*.tiff"))
    for path in slides:
        write_slide_outputs(root / "analysis" / "sew", _analysis(path, "sew", [(512, 768), (1280, 1024)]))
        write_slide_outputs(root / "analysis" / "mil", _analysis(path, "mil", [(256, 256), (1536, 512),
                                                                                  (768, 1536)]))
    bad = root / "bad"
    bad.mkdir()
    data = slides[0].read_bytes()
    (bad / "truncated.svs").write_bytes(data[: len(data) // 2])
    (bad / "notaslide.svs").write_text("this is a text file, not a slide\n")
    corrupt = bytearray(data)
    with tifffile.TiffFile(slides[0]) as tif:
        page = tif.pages[0]  # every level-0 tile zeroed: the pyramid's upper levels stay readable
        for offset, count in zip(page.dataoffsets, page.databytecounts, strict=True):
            corrupt[offset:offset + count] = b"\x00" * count
    (bad / "corrupt_tiles.svs").write_bytes(bytes(corrupt))
    outside = root / "outside"
    outside.mkdir()
    shutil.copy(slides[1], outside / "secret.tiff")
    return {"root": root, "slides": cohort / "slides", "masks": cohort / "masks",
            "analysis": root / "analysis", "bad": bad, "outside": outside, "first": slides[0],
            "second": slides[1]}


@pytest.fixture(scope="session")
def client(demo_like: dict[str, Path]) -> TestClient:
    """The viewer over the demo-like slides and the bad ones, with both analyses."""
    library = build_library([demo_like["slides"], demo_like["bad"]])
    app = create_app(library, OverlayFinder([demo_like["analysis"]]))
    with TestClient(app, base_url=LOCAL) as test_client:
        yield test_client
