"""Tiny synthetic cohorts and one short baseline run, built once for the MIL tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch

SLIDE_SIZE = 1536
ENCODER_INPUT = 32  # tiles are still read at 256 px and 0.5 um/px; only the encoder sees them small


@pytest.fixture(scope="package", autouse=True)
def _one_thread() -> None:
    # NOTE: these tensors are tiny; on a shared, busy 2-core machine one thread is several times faster.
    torch.set_num_threads(1)


@pytest.fixture(scope="package")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six two-class slides of 1536^2 at 0.5 um/px (about 12 tissue tiles each); returns their labels.csv."""
    from pathfocus.data.synthetic.slides import make_synthetic_cohort

    out = tmp_path_factory.mktemp("mil_cohort")
    make_synthetic_cohort(out, n_slides=6, seed=0, size=SLIDE_SIZE)
    return out / "labels.csv"


@pytest.fixture(scope="package")
def graded_cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Nine 1024^2 slides in three grades (three per grade: every grade reaches train, val and test)."""
    from pathfocus.data.synthetic.slides import make_synthetic_cohort

    out = tmp_path_factory.mktemp("mil_graded")
    make_synthetic_cohort(out, n_slides=9, seed=1, grades=3, size=1024)
    return out / "labels.csv"


def train_args(labels: Path, run: Path, epochs: int = 3) -> list[str]:
    return [
        "train",
        "mil",
        "--slides",
        str(labels),
        "--out",
        str(run),
        "--epochs",
        str(epochs),
        "--encoder",
        "timm:convnextv2_atto",
        "--encoder-input-size",
        str(ENCODER_INPUT),
        "--batch-size",
        "64",
        "--workers",
        "0",
        "--seed",
        "0",
    ]


@pytest.fixture(scope="package")
def cli_args() -> Callable[..., list[str]]:
    """Arguments of a short `pathfocus train mil` run (tiny encoder input, few epochs)."""
    return train_args


@pytest.fixture(scope="package")
def mil_run(cohort: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A short `pathfocus train mil` run through the real CLI, on the cohort plus one unreadable slide."""
    import pandas as pd
    from typer.testing import CliRunner

    from pathfocus.cli.main import app

    folder = tmp_path_factory.mktemp("mil_run")
    broken = folder / "broken.tiff"
    broken.write_bytes(b"II*\x00 this is not a slide")
    labels = pd.read_csv(cohort, dtype=str)
    labels = pd.concat([labels, pd.DataFrame([{"slide_id": "broken", "path": str(broken), "label": "1"}])])
    labels.to_csv(folder / "labels.csv", index=False)
    run = folder / "run"
    result = CliRunner().invoke(app, train_args(folder / "labels.csv", run))
    assert result.exit_code == 0, result.output
    assert "1 unreadable slides skipped" in " ".join(result.output.split())
    return run
