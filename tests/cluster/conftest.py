"""A tiny cohort, a tiny SEW run and one two-worker LocalCluster on 127.0.0.1, shared by the cluster tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

# the same tiny SEW as tests/sew: two one-tile windows, a few dozen superpixels, a tiny random encoder
TINY_SEW = {"k": 2, "window_tiles": 1, "min_gap_um": 100.0, "n_superpixels": 48, "hidden": 32,
            "detail_hidden": 32, "transformer_layers": 1}
TINY_ENCODER = {"source": "timm:test_resnet", "input_size": 32}


@pytest.fixture(scope="package")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six 2048^2 slides with labels.csv (SEW needs some for validation)."""
    from pathfocus.data.synthetic.slides import make_synthetic_cohort

    return make_synthetic_cohort(tmp_path_factory.mktemp("cluster_cohort"), n_slides=6, seed=3, size=2048)


@pytest.fixture(scope="package")
def slides(cohort: Path) -> list[Path]:
    return sorted((cohort / "slides").glob("*.tiff"))


@pytest.fixture(scope="package")
def sew_run(cohort: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SEW run trained for one epoch on the tiny cohort."""
    from pathfocus.configs import from_dict
    from pathfocus.engines.sew.settings import split_flat_settings
    from pathfocus.training.sew.config import SEWTrainConfig
    from pathfocus.training.sew.run import train_sew

    sections = split_flat_settings({**TINY_SEW, "epochs": 1, "batch_size": 2})
    config = from_dict(SEWTrainConfig, {"slides": {"slides_csv": str(cohort / "labels.csv")},
                                        "encoder": TINY_ENCODER, **sections})
    run = tmp_path_factory.mktemp("cluster_sew_run")
    train_sew(config, run, progress=False)
    return run


@pytest.fixture(scope="package")
def address() -> Iterator[str]:
    """``tcp://127.0.0.1:PORT`` of two single-threaded worker processes that retry a lost task once."""
    import dask

    from pathfocus.slide.cluster import ALLOWED_FAILURES, local_cluster

    retry_once = {"distributed.scheduler.allowed-failures": ALLOWED_FAILURES}
    with dask.config.set(retry_once), local_cluster(2) as cluster:
        yield cluster.scheduler_address
