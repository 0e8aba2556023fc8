"""Two processes (DDP over gloo on the CPU) give the validation scores of one, and encode each slide once.

The validation split has an odd number of slides, so a padding sampler would count one twice; the
scores are gathered across processes before they are computed (pathfocus.training.validation).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch
from safetensors import safe_open

from pathfocus.data.slide_labels import read_slide_labels
from pathfocus.engines.tile_cache import TileFeatureCache
from pathfocus.engines.tile_settings import TileSettings
from pathfocus.models.mil import GatedAttentionMIL
from pathfocus.models.tile_encoder import TileEncoder
from pathfocus.training.mil.task import BagDataModule, MILTask


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    """Eight 1024^2 slides: 3 for training, 5 (an odd number) for validation."""
    from pathfocus.data.synthetic.slides import make_synthetic_cohort

    out = make_synthetic_cohort(tmp_path_factory.mktemp("ddp_cohort"), n_slides=8, seed=2, size=1024)
    table = read_slide_labels(out / "labels.csv")
    table["subset"] = ["train"] * 3 + ["val"] * 5
    return table


def _validate(table: pd.DataFrame, cache_dir: Path, devices: int) -> dict[str, float]:
    import lightning.pytorch as pl

    torch.manual_seed(0)
    encoder = TileEncoder("convnextv2_atto", input_size=32)
    cache = TileFeatureCache(cache_dir, encoder, TileSettings(num_workers=0), torch.device("cpu"))
    data = BagDataModule(table, ["0", "1"], cache, max_train_instances=None, seed=0, progress=False)
    torch.manual_seed(1)
    task = MILTask(GatedAttentionMIL(encoder.num_features, 2, hidden_dim=8, attention_dim=4), ["0", "1"],
                   lr=1e-3, weight_decay=0.0)
    trainer = pl.Trainer(accelerator="cpu", devices=devices, strategy="ddp_spawn" if devices > 1 else "auto",
                         logger=False, enable_progress_bar=False, enable_model_summary=False,
                         use_distributed_sampler=False)
    (scores,) = trainer.validate(task, datamodule=data, verbose=False)
    return scores


def test_two_processes_match_one_and_encode_each_slide_once(cohort: pd.DataFrame, tmp_path: Path) -> None:
    two = _validate(cohort, tmp_path / "cache", devices=2)
    files = sorted((tmp_path / "cache").glob("tiles-*/*.safetensors"))
    assert len(files) == len(cohort)  # every slide encoded, once: one file each
    writers = []
    for file in files:
        with safe_open(str(file), framework="pt") as handle:
            writers.append(handle.metadata()["writer_rank"])
    assert sorted(writers) == ["0"] * 4 + ["1"] * 4  # slides 0::2 by rank 0, 1::2 by rank 1

    one = _validate(cohort, tmp_path / "cache", devices=1)
    assert set(two) == set(one) >= {"val_loss", "val_acc", "val_auc"}
    for name in one:
        assert two[name] == pytest.approx(one[name], rel=1e-5, abs=1e-6), name
