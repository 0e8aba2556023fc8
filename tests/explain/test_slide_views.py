"""Slide explanations from analysis folders: side-by-side maps and Grad-CAM on SEW's focus regions."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from pathfocus.errors import InputError


def _analysis(folder, slide_id, method, regions, colour):
    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((60, 80, 3), colour, dtype=np.uint8)).save(folder / f"{slide_id}_heatmap.png")
    document = {"slide_id": slide_id, "label": "tumour", "class_names": ["normal", "tumour"],
                "probabilities": [0.2, 0.8], "regions": regions, "seconds": 1.5, "pixels_read": 3_000_000,
                "thumbnail_mpp": 8.0, "method": method, "slide_mpp": 0.5}
    (folder / f"{slide_id}.json").write_text(json.dumps(document))


def test_side_by_side_for_every_slide_in_both_folders(tmp_path):
    from pathfocus.explain.slide_views import write_side_by_side

    region = [{"x": 0, "y": 0, "w": 512, "h": 512, "score": 0.9}]
    for slide_id in ("s1", "s2"):
        _analysis(tmp_path / "sew", slide_id, "sew", region, (200, 30, 30))
    _analysis(tmp_path / "mil", "s2", "mil", region, (30, 30, 200))
    written = write_side_by_side(tmp_path / "sew", tmp_path / "mil", tmp_path / "views")
    assert [p.name for p in written] == ["s2_focus_vs_attention.png"]
    with Image.open(written[0]) as image:
        pixels = np.asarray(image.convert("RGB"))
    width = pixels.shape[1]
    reds = (pixels[..., 0] > 150) & (pixels[..., 2] < 80)
    blues = (pixels[..., 2] > 150) & (pixels[..., 0] < 80)
    assert reds[:, : width // 2].sum() > 1000 and reds[:, width // 2:].sum() == 0  # SEW left
    assert blues[:, width // 2:].sum() > 1000 and blues[:, : width // 2].sum() == 0  # baseline right
    with pytest.raises(InputError, match="share no analysed slide"):
        write_side_by_side(tmp_path / "sew", tmp_path / "views", tmp_path / "none")


def test_gradcam_on_focus_regions_reads_the_slide(tmp_path, one_thread):
    from pathfocus.data.synthetic.slide_tiff import write_aperio_tiff
    from pathfocus.explain.outputs import read_explanations
    from pathfocus.explain.slide_views import explain_focus_regions, read_region_crops
    from pathfocus.models.kfde import create_model
    from pathfocus.runs import save_run_model
    from pathfocus.units import Region

    def render(x, y, w, h):
        tile = np.full((h, w, 3), 235, dtype=np.uint8)
        if x == 256 and y == 0:
            tile[:, :, 1:] = 40  # the one red tile: where the regions point
        return tile

    slide = tmp_path / "slide7.tiff"
    write_aperio_tiff(slide, render, (512, 512), mpp=0.25, downsamples=(1, 4))
    crops = read_region_crops(slide, [Region(256, 0, 256, 256, 0.9)], read_mpp=0.5)
    assert crops[0].shape == (128, 128, 3)
    assert crops[0][..., 0].mean() > 200 and crops[0][..., 1].mean() < 80
    _analysis(tmp_path / "sew", "slide7", "sew", [{"x": 256, "y": 0, "w": 256, "h": 256, "score": 0.9},
                                                  {"x": 0, "y": 256, "w": 256, "h": 256, "score": 0.4}],
              (0, 0, 0))
    torch.manual_seed(0)
    run = tmp_path / "run"
    save_run_model(run, create_model("baseline", 2), {
        "kind": "patch", "model": {"name": "baseline", "backbone": "convnextv2_atto", "num_classes": 2},
        "class_names": ["normal", "tumour"], "image_size": 64, "mean": [0.5] * 3, "std": [0.25] * 3})
    from typer.testing import CliRunner

    from pathfocus.cli.main import app

    result = CliRunner().invoke(app, ["explain", str(run), str(slide), "--regions", str(tmp_path / "sew"),
                                      "--out", str(tmp_path / "regions")])
    assert result.exit_code == 0, result.output
    index = tmp_path / "regions" / "slide7" / "explain.json"
    document = read_explanations(index.parent)
    assert document["slide_id"] == "slide7"
    assert [i["name"] for i in document["items"]] == ["slide7_region0", "slide7_region1"]
    assert [i["focus_score"] for i in document["items"]] == [0.9, 0.4]
    with Image.open(index.parent / "slide7_region0_overlay.png") as overlay:
        assert overlay.size == (128, 128)
    assert np.load(index.parent / "slide7_region1.npy").shape == (64, 64)
    with pytest.raises(InputError, match="no analysis of slide7"):
        explain_focus_regions(run, slide, tmp_path / "regions", tmp_path / "none")
