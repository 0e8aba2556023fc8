"""MILAnalyzer: the JSON contract, regions on tissue, honest pixel counts, agreement with training."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from pathfocus.analysis.analyzers import load_analyzer
from pathfocus.analysis.mil import MILAnalyzer
from pathfocus.data.slide_labels import read_slide_labels
from pathfocus.errors import SlideError
from pathfocus.slide.reader import open_slide
from pathfocus.slide.tiling import tissue_fractions
from pathfocus.slide.tissue import slide_tissue


@pytest.fixture(scope="module")
def analysis_of_first(mil_run: Path, cohort: Path):  # type: ignore[no-untyped-def]
    path = Path(read_slide_labels(cohort)["path"][0])
    return path, load_analyzer(mil_run).analyze(path)


def test_load_analyzer_gives_the_mil_analyzer(mil_run: Path) -> None:
    assert isinstance(load_analyzer(mil_run), MILAnalyzer)


def test_json_contract_and_pixel_count(analysis_of_first) -> None:  # type: ignore[no-untyped-def]
    path, analysis = analysis_of_first
    document = analysis.to_json()
    for key in ("slide_id", "label", "probabilities", "regions", "seconds", "pixels_read"):
        assert key in document
    assert document["slide_id"] == path.stem
    assert sum(document["probabilities"]) == pytest.approx(1.0, abs=1e-5)
    assert document["label"] in document["class_names"]
    assert document["pixels_read"] == analysis.extra["n_tiles"] * 256 * 256
    assert document["seconds"] > 0
    assert len(document["regions"]) == min(8, analysis.extra["n_tiles"])
    assert {"x", "y", "w", "h", "score"} <= set(document["regions"][0])
    scores = [region["score"] for region in document["regions"]]
    assert scores == sorted(scores, reverse=True) and 0 < scores[0] <= 1
    assert analysis.heatmap.shape == analysis.thumbnail.shape[:2]
    assert float(analysis.heatmap.max()) == pytest.approx(1.0) and float(analysis.heatmap.min()) >= 0


def test_regions_lie_on_tissue(analysis_of_first) -> None:  # type: ignore[no-untyped-def]
    path, analysis = analysis_of_first
    slide = open_slide(path)
    tissue = slide_tissue(slide)
    coords = np.asarray([[r.x, r.y] for r in analysis.regions])
    sides = {r.w for r in analysis.regions} | {r.h for r in analysis.regions}
    assert sides == {256}  # 256 px at 0.5 um/px on a 0.5 um/px slide
    assert (tissue_fractions(tissue, coords, 256) >= 0.5).all()
    width, height = slide.dimensions
    assert all(0 <= r.x <= width - r.w and 0 <= r.y <= height - r.h for r in analysis.regions)


def test_analyzer_agrees_with_the_training_cache(mil_run: Path, analysis_of_first) -> None:  # type: ignore
    from safetensors.torch import load_file

    from pathfocus.analysis.mil import build_mil_model
    from pathfocus.fileio import read_json
    from pathfocus.runs import load_run_weights

    path, analysis = analysis_of_first
    (cache_file,) = (mil_run / "cache").glob(f"tiles-*/{path.stem}.safetensors")
    cached = load_file(str(cache_file))
    model = build_mil_model(read_json(mil_run / "config.json"))
    load_run_weights(mil_run, model)
    with torch.inference_mode():
        probabilities = torch.softmax(model.eval().head(cached["features"]).logits, -1)
    np.testing.assert_allclose(analysis.probabilities, probabilities.numpy(), atol=1e-4)
    assert len(cached["coords"]) == analysis.extra["n_tiles"]


def test_unreadable_slide_raises_a_slide_error(mil_run: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.svs"
    broken.write_bytes(b"not a slide at all")
    with pytest.raises(SlideError, match="broken.svs"):
        load_analyzer(mil_run).analyze(broken)
