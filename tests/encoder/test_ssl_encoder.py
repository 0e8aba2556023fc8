"""The default encoder: SimCLR on a cohort's own tiles, written as a folder, reused by key, never on test."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

from pathfocus.engines.encoders import build_encoder, encoder_fingerprint, load_encoder_folder
from pathfocus.engines.tile_settings import TileSettings
from pathfocus.errors import CheckpointError, InputError
from pathfocus.models.backbones import TileEncoderSpec
from pathfocus.training.encoder.augment import random_views
from pathfocus.training.encoder.config import SSLSettings
from pathfocus.training.encoder.run import encoder_key, resolve_encoder

TINY_SSL = SSLSettings(tiles_per_slide=8, epochs=2, batch_size=8)
TILES = TileSettings(num_workers=0)


@pytest.fixture(scope="module")
def slides(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    from pathfocus.data.synthetic.slides import make_synthetic_cohort

    out = make_synthetic_cohort(tmp_path_factory.mktemp("ssl_cohort"), n_slides=3, seed=4, size=1536)
    return sorted(str(p) for p in (out / "slides").glob("*.tiff"))


def test_pretraining_writes_a_folder_that_resolves_and_is_reused(
    slides: list[str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spec = TileEncoderSpec(backbone="test_resnet", input_size=32)
    torch.manual_seed(0)
    untrained = encoder_fingerprint(build_encoder(TileEncoderSpec(source="timm:test_resnet", input_size=32)))
    encoder = resolve_encoder(spec, slides[:2], TILES, TINY_SSL, tmp_path, progress=False)
    folder = tmp_path / "encoders" / encoder_key(spec, slides[:2], TILES, TINY_SSL)
    assert (folder / "config.json").is_file() and (folder / "model.safetensors").is_file()
    assert encoder_fingerprint(encoder) != untrained  # the weights moved
    assert not encoder.backbone.training and not any(p.requires_grad for p in encoder.parameters())
    with caplog.at_level(logging.INFO, logger="pathfocus"):
        again = resolve_encoder(spec, slides[:2], TILES, TINY_SSL, tmp_path, progress=False)
    assert "reusing" in caplog.text and encoder_fingerprint(again) == encoder_fingerprint(encoder)
    # another set of training slides is another encoder: nothing else is ever reused
    assert encoder_key(spec, slides[1:], TILES, TINY_SSL) != encoder_key(spec, slides[:2], TILES, TINY_SSL)
    loaded = build_encoder(TileEncoderSpec(source=f"ssl:{folder}", input_size=32))
    assert encoder_fingerprint(loaded) == encoder_fingerprint(encoder)


def test_views_keep_the_magnification_and_differ() -> None:
    """Crops are one fixed size, resized by one fixed factor: nuclei keep their size; views differ."""
    data = build_encoder(TileEncoderSpec(source="timm:test_resnet", input_size=32)).data_config
    tiles = torch.zeros(6, 3, 64, 64, dtype=torch.uint8)
    for row in range(0, 64, 16):  # 8 px square "nuclei" every 16 px: a quarter of any crop
        for col in range(0, 64, 16):
            tiles[:, :, row : row + 8, col : col + 8] = 255
    generator = torch.Generator().manual_seed(0)
    first = random_views(tiles, crop=32, data=data, generator=generator)
    second = random_views(tiles, crop=32, data=data, generator=generator)
    assert first.shape == second.shape == (6, 3, 32, 32)  # 32 px crops of 64 px tiles, kept at 32 px
    assert not torch.equal(first, second)
    for view in first:  # the squares keep their size whatever the crop, flip, rotation or colour did
        bright = view.mean(dim=0) > view.mean()
        assert (
            200 <= int(bright.sum()) <= 360
        )  # 256 = a quarter of 32 x 32 (blur widens edges); x2 scale: 1024


def test_bad_encoder_inputs_are_clear(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="not an encoder folder"):
        load_encoder_folder(tmp_path)
    with pytest.raises(InputError, match="pretrained on a cohort"):
        build_encoder(TileEncoderSpec())
    with pytest.raises(InputError, match="input_size"):
        TileEncoderSpec(input_size=4)
    assert "RANDOM" in TileEncoderSpec(source="timm:resnet18").describe()
