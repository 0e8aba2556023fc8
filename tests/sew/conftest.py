"""Tiny synthetic cohorts and a tiny SEW run, built once per test session for all SEW tests."""

from __future__ import annotations

from pathlib import Path

import pytest

# two windows of one 256 px tile each, a few dozen superpixels, a tiny random-weights encoder (the encoder
# is exercised on its own in tests/encoder; here it only has to be the same for training and analysis)
TINY_SEW = {"k": 2, "window_tiles": 1, "min_gap_um": 100.0, "n_superpixels": 48, "hidden": 32,
            "detail_hidden": 32, "transformer_layers": 1}
TINY_ENCODER = {"source": "timm:test_resnet", "input_size": 32}


def sew_settings(labels: Path, flat: dict[str, object], **training: object) -> object:
    """A SEWTrainConfig from flat settings (each key routed to the section that owns it)."""
    from pathfocus.configs import from_dict
    from pathfocus.engines.sew.settings import split_flat_settings
    from pathfocus.training.sew.config import SEWTrainConfig

    sections = split_flat_settings({**flat, **training})
    return from_dict(SEWTrainConfig, {"slides": {"slides_csv": str(labels)}, "encoder": TINY_ENCODER,
                                      **sections})


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread() -> None:
    """SEW's tensors are tiny; on a busy 2-core machine two torch threads only spin."""
    import torch

    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_sew() -> dict[str, object]:
    """SEW settings small enough for tests."""
    return dict(TINY_SEW)


@pytest.fixture(scope="session")
def settings() -> object:
    """``settings(labels, flat, **training)``: a SEWTrainConfig from flat settings."""
    return sew_settings


@pytest.fixture(scope="session")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six 2048^2 slides (3 negative, 3 with lesions) with labels.csv."""
    from pathfocus.data.synthetic.slides import make_synthetic_cohort

    return make_synthetic_cohort(tmp_path_factory.mktemp("sew_cohort"), n_slides=6, seed=3, size=2048)


@pytest.fixture(scope="session")
def sew_run(cohort: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SEW run trained for two epochs on the tiny cohort."""
    from pathfocus.training.sew.run import train_sew

    run = tmp_path_factory.mktemp("sew_run")
    train_sew(sew_settings(cohort / "labels.csv", TINY_SEW, epochs=2, batch_size=2), run, progress=False)
    return run
