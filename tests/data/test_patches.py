"""PatchDataset and transforms: unreadable files skipped and named, epochs survive, shapes and values."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from breakhis_tree import write_png
from PIL import Image
from torch.utils.data import DataLoader

from pathfocus.data.patches import (
    PatchDataset,
    RandomRot90,
    eval_transforms,
    find_unreadable,
    train_transforms,
)
from pathfocus.errors import InputError


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    good = [tmp_path / f"good{i}.png" for i in range(4)]
    for i, path in enumerate(good):
        write_png(path, i, size=40)
    truncated = tmp_path / "truncated.png"
    data = good[0].read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    text = tmp_path / "notes.png"
    text.write_text("this is not an image")
    return {"good": good, "truncated": truncated, "text": text, "missing": tmp_path / "missing.png"}

MEAN, STD = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)  # any normalisation: the transforms take the model's own


def test_find_unreadable_names_each(files: dict, caplog: pytest.LogCaptureFixture) -> None:
    paths = [*files["good"], files["truncated"], files["text"], files["missing"]]
    with caplog.at_level(logging.WARNING):
        bad = find_unreadable(paths)
    assert bad == [files["truncated"], files["text"], files["missing"]]
    for path in bad:
        assert str(path) in caplog.text


def test_dataset_skips_unreadable(files: dict) -> None:
    paths = [files["good"][0], files["truncated"], files["good"][1], files["text"]]
    dataset = PatchDataset(paths, [0, 1, 1, 0], transform=eval_transforms(32, MEAN, STD))
    assert dataset.skipped == [files["truncated"], files["text"]]
    assert len(dataset) == 2 and dataset.labels == [0, 1]
    image, label = dataset[1]
    assert image.shape == (3, 32, 32) and image.dtype == torch.float32 and label == 1


def test_failure_mid_epoch_does_not_crash(files: dict, caplog: pytest.LogCaptureFixture) -> None:
    dataset = PatchDataset(files["good"], [0, 1, 0, 1], transform=eval_transforms(16, MEAN, STD))
    files["good"][1].write_bytes(b"corrupted after the check")
    with caplog.at_level(logging.WARNING):
        batches = list(DataLoader(dataset, batch_size=4, num_workers=0))
    images, labels = batches[0]
    assert images.shape == (4, 3, 16, 16)
    assert labels.tolist() == [0, 0, 0, 1]  # item 1 replaced by the next readable sample (item 2)
    assert dataset.failed == [files["good"][1]]
    assert str(files["good"][1]) in caplog.text


def test_all_unreadable_is_one_clear_error(files: dict) -> None:
    with pytest.raises(InputError, match="none of the 2 images"):
        PatchDataset([files["text"], files["truncated"]], [0, 1])
    with pytest.raises(InputError, match="one label per image"):
        PatchDataset(files["good"], [0])


def test_eval_transform_values(tmp_path: Path) -> None:
    colour = (200, 100, 50)
    Image.new("RGB", (20, 12), colour).save(tmp_path / "flat.png")
    dataset = PatchDataset([tmp_path / "flat.png"], [0], transform=eval_transforms(24, MEAN, STD))
    image, _ = dataset[0]
    expected = [(c / 255 - m) / s for c, m, s in zip(colour, MEAN, STD, strict=True)]
    assert image.shape == (3, 24, 24)
    assert torch.allclose(image.mean(dim=(1, 2)), torch.tensor(expected), atol=1e-3)


def test_train_transform_shapes_and_randomness(files: dict) -> None:
    transform = train_transforms(32, MEAN, STD)
    image = Image.open(files["good"][0]).convert("RGB")
    torch.manual_seed(0)
    outputs = [transform(image) for _ in range(6)]
    assert all(o.shape == (3, 32, 32) and o.dtype == torch.float32 for o in outputs)
    assert any(not torch.equal(outputs[0], o) for o in outputs[1:])


def test_rot90_is_exact() -> None:
    x = torch.arange(2 * 3 * 3).reshape(2, 3, 3)
    seen = set()
    torch.manual_seed(0)
    for _ in range(40):
        y = RandomRot90()(x)
        k = next(k for k in range(4) if torch.equal(y, torch.rot90(x, k, dims=(-2, -1))))
        seen.add(k)
    assert seen == {0, 1, 2, 3}


def test_loads_rgb_from_other_modes(tmp_path: Path) -> None:
    Image.fromarray(np.full((10, 10), 128, dtype=np.uint8), mode="L").save(tmp_path / "grey.png")
    Image.new("RGBA", (10, 10), (10, 20, 30, 40)).save(tmp_path / "alpha.png")
    dataset = PatchDataset([tmp_path / "grey.png", tmp_path / "alpha.png"], [0, 1])
    assert all(dataset[i][0].mode == "RGB" for i in range(2))
