"""What the training commands are told about hardware reaches Lightning's Trainer."""

from __future__ import annotations

from pathlib import Path

import pytest

from pathfocus.errors import InputError
from pathfocus.training.mil.config import MILTraining
from pathfocus.training.options import TrainerOptions
from pathfocus.training.patch.config import PatchTraining
from pathfocus.training.sew.config import SEWTraining
from pathfocus.training.trainer import build_trainer


@pytest.mark.parametrize("training", [SEWTraining(num_nodes=2), MILTraining(num_nodes=2),
                                      PatchTraining(num_nodes=2)])
def test_num_nodes_reaches_the_trainer(tmp_path: Path, training: object) -> None:
    # a multi-node SLURM job is refused by Lightning unless num_nodes matches the nodes SLURM gave it
    options = training.trainer_options(progress=False)  # type: ignore[attr-defined]
    options.accelerator, options.devices = "cpu", "1"
    trainer, _ = build_trainer(tmp_path, options)
    assert trainer.num_nodes == 2


def test_zero_nodes_are_refused() -> None:
    with pytest.raises(InputError, match="num_nodes"):
        TrainerOptions(num_nodes=0)
