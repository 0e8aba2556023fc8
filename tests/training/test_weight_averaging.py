"""The weights a run keeps are the weights that scored best on validation, averaged or not.

With ``ema_decay`` the Trainer validates, selects and keeps an exponential moving average of the weights,
checked against the average computed here from the raw weights after every optimiser step. The task logs
its score in ``on_validation_epoch_end`` as our tasks do (Lightning calls callbacks' epoch-end hooks before
the module's), and the kept weights are scored again: they must give the best score, not the next epoch's.
"""

from __future__ import annotations

from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from pathfocus.errors import InputError
from pathfocus.training.options import TrainerOptions
from pathfocus.training.trainer import build_trainer

DECAY = 0.6


class LinearTask(pl.LightningModule):
    """Least squares with plain SGD: every step moves the weights, so averaged and raw weights differ."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.model = nn.Linear(3, 1)

    def training_step(self, batch: list[torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, y = batch
        return nn.functional.mse_loss(self.model(x), y)

    def validation_step(self, batch: list[torch.Tensor], batch_idx: int) -> None:
        x, y = batch
        self.val_losses.append(nn.functional.mse_loss(self.model(x), y))

    def on_validation_epoch_start(self) -> None:
        self.val_losses: list[torch.Tensor] = []

    def on_validation_epoch_end(self) -> None:
        self.log("val_loss", torch.stack(self.val_losses).mean())

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.05)


class RawWeights(pl.Callback):
    """The raw weight vector after every optimiser step, and at each validation."""

    def __init__(self) -> None:
        self.steps: list[torch.Tensor] = []
        self.at_validation: list[torch.Tensor] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:  # type: ignore[no-untyped-def]
        self.steps.append(_flat(pl_module.model))

    def on_validation_epoch_end(self, trainer, pl_module) -> None:  # type: ignore[no-untyped-def]
        self.at_validation.append(_flat(pl_module.model))


def _flat(model: nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten().clone() for p in model.parameters()])


def _loaders() -> tuple[DataLoader, DataLoader]:
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(32, 3, generator=generator)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]]) + 0.3
    return (DataLoader(TensorDataset(x, y), batch_size=8),
            DataLoader(TensorDataset(x[:16], y[:16]), batch_size=16))


def _fit(tmp_path: Path, ema_decay: float) -> tuple[RawWeights, torch.Tensor, int]:
    """Three epochs; the recorder, the kept weights (flat) and the best epoch. The kept weights, scored
    again on the validation data, give the best validation score."""
    task, recorder = LinearTask(), RawWeights()
    options = TrainerOptions(max_epochs=3, patience=3, progress=False, ema_decay=ema_decay,
                             accelerator="cpu", devices="1")
    trainer, best = build_trainer(tmp_path, options)
    trainer.callbacks.insert(0, recorder)
    train, val = _loaders()
    trainer.fit(task, train, val)
    assert best.state is not None and best.best_epoch is not None
    kept = torch.cat([best.state[name].flatten() for name, _ in task.model.named_parameters()])
    task.model.load_state_dict(best.state)
    x, y = val.dataset.tensors
    with torch.no_grad():
        assert float(nn.functional.mse_loss(task.model(x), y)) == pytest.approx(best.best_score, rel=1e-5)
    return recorder, kept, best.best_epoch


def test_validation_and_the_kept_weights_are_the_moving_average(tmp_path: Path) -> None:
    recorder, kept, best_epoch = _fit(tmp_path, DECAY)
    averages, average = [], None
    # torch.optim.swa_utils: the first update copies the weights, then decay * average + (1 - decay) * raw
    for raw in recorder.steps:
        average = raw.clone() if average is None else DECAY * average + (1 - DECAY) * raw
        averages.append(average)
    steps_per_epoch = len(recorder.steps) // 3
    epoch_ends = [averages[(epoch + 1) * steps_per_epoch - 1] for epoch in range(3)]
    for seen, expected in zip(recorder.at_validation, epoch_ends, strict=True):
        torch.testing.assert_close(seen, expected)  # validation ran on the average, not the raw weights
    # the kept weights: the average at the best epoch, which is not that epoch's raw weights
    torch.testing.assert_close(kept, epoch_ends[best_epoch])
    raw_at_best = recorder.steps[(best_epoch + 1) * steps_per_epoch - 1]
    assert (kept - raw_at_best).abs().max() > 1e-4


def test_without_averaging_the_raw_weights_are_validated_and_kept(tmp_path: Path) -> None:
    recorder, kept, best_epoch = _fit(tmp_path, 0.0)
    steps_per_epoch = len(recorder.steps) // 3
    for epoch, seen in enumerate(recorder.at_validation):
        torch.testing.assert_close(seen, recorder.steps[(epoch + 1) * steps_per_epoch - 1])
    torch.testing.assert_close(kept, recorder.at_validation[best_epoch])


@pytest.mark.parametrize("decay", [-0.1, 1.0])
def test_a_decay_outside_zero_to_one_is_refused(decay: float) -> None:
    with pytest.raises(InputError, match="ema_decay"):
        TrainerOptions(ema_decay=decay)
