"""`pathfocus explain` end to end on a real (tiny, untrained) patch run folder."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

CLASSES = ["benign", "malignant"]


@pytest.fixture
def patch_run(tmp_path, one_thread):
    from pathfocus.models.kfde import create_model
    from pathfocus.runs import save_run_model

    torch.manual_seed(0)
    model = create_model("kfde", num_classes=2)
    run = tmp_path / "run"
    save_run_model(run, model, {"kind": "patch", "model": {"name": "kfde", "backbone": "convnextv2_atto",
                                                           "num_classes": 2},
                                "class_names": CLASSES, "image_size": 64,
                                "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]})
    return run


@pytest.fixture
def images_and_masks(tmp_path):
    rng = np.random.default_rng(0)
    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir()
    masks.mkdir()
    for k in range(3):
        Image.fromarray(rng.integers(0, 256, size=(40, 48, 3), dtype=np.uint8)).save(images / f"p{k}.png")
        mask = np.zeros((40, 48), dtype=np.uint8)
        mask[5:20, 10:30] = 255
        Image.fromarray(mask).save(masks / f"p{k}_mask.png")
    (images / "broken.png").write_bytes(b"not a png")
    return images, masks


def test_explain_writes_arrays_overlays_and_index(patch_run, images_and_masks, tmp_path):
    from pathfocus.cli.main import app
    from pathfocus.explain.localisation import score_map

    images, masks = images_and_masks
    out = tmp_path / "explain"
    result = CliRunner().invoke(app, ["explain", str(patch_run), str(images), "--out", str(out),
                                      "--class", "malignant", "--masks", str(masks)])
    assert result.exit_code == 0, result.output
    document = json.loads((out / "explain.json").read_text())
    assert document["kind"] == "explain" and document["model"]["name"] == "kfde"
    assert [item["name"] for item in document["items"]] == ["p0", "p1", "p2"]  # broken.png skipped
    mask = np.asarray(Image.open(masks / "p0_mask.png")) > 127
    for item in document["items"]:
        heat = np.load(out / item["heatmap"])
        assert heat.shape == (64, 64) and heat.dtype == np.float32
        assert 0.0 <= heat.min() and heat.max() <= 1.0
        with Image.open(out / item["overlay"]) as overlay:
            assert overlay.size == (48, 40) and overlay.mode == "RGB"
        assert item["target"] == "malignant"
        assert item["prob_benign"] + item["prob_malignant"] == pytest.approx(1.0, abs=1e-5)
        assert item["energy_share"] == pytest.approx(score_map(heat, mask)["energy_share"])
    shares = [item["energy_share"] for item in document["items"]]
    assert document["localisation"]["energy_share_mean"] == pytest.approx(np.mean(shares))
    index = pd.read_csv(out / "index.csv")
    assert list(index["name"]) == ["p0", "p1", "p2"]
    assert not list(out.glob(".*tmp*"))  # atomic writes leave no temporaries


def test_explain_refuses_an_unknown_class(patch_run, images_and_masks, tmp_path):
    from pathfocus.cli.main import app

    images, _ = images_and_masks
    result = CliRunner().invoke(app, ["explain", str(patch_run), str(images / "p0.png"), "--out",
                                      str(tmp_path / "x"), "--class", "nonsense"])
    assert result.exit_code == 1
    assert "nonsense" in result.output and "benign" in result.output
    assert not (tmp_path / "x" / "explain.json").exists()
