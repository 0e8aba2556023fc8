"""How SEW learns, and everything ``train sew`` is told, one section per concern.

``slides`` (cohort and split), ``architecture`` (:class:`~pathfocus.models.sew.SEWArchitecture`), ``reading``
(:class:`~pathfocus.engines.sew.reading.SEWReading`) and ``training`` (:class:`SEWTraining`: the loss
weights and switches, candidate sampling and the optimiser). ``config.json`` records all four resolved.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pathfocus.engines.sew.reading import SEWReading
from pathfocus.errors import InputError
from pathfocus.models.sew_settings import SEWArchitecture
from pathfocus.training.options import SlideCohort, TrainerOptions

# model selection and early stopping: cross-entropy of the fused slide prediction on the validation split
SELECTION_METRIC = "val_slide_loss"


@dataclass
class SEWTraining:
    """Loss weights and switches (ablations), exploration and candidate pools, optimiser, epochs, seed.

    ``lambda_region``: cross-entropy of each visited region against its slide's label (0: off);
    ``explore``: share of the k training regions drawn at random among tissue nodes;
    ``train_pool``: training picks regions among this many fixed nodes per slide (0: all nodes).
    """

    lambda_cst: float = 0.5
    lambda_focus: float = 1.0
    lambda_region: float = 1.0
    use_consistency: bool = True
    use_focus_loss: bool = True
    explore: float = 0.25
    train_pool: int = 16
    epochs: int = 60
    patience: int = 20
    batch_size: int = 2
    lr: float = 2e-3
    weight_decay: float = 1e-2
    seed: int = 0
    devices: str = "auto"
    strategy: str = "auto"

    def __post_init__(self) -> None:
        if not 0.0 <= self.explore < 1.0:
            msg = f"explore must lie in [0, 1), got {self.explore}"
            raise InputError(msg)
        if self.batch_size < 1 or self.lr <= 0 or self.train_pool < 0:
            msg = (f"batch_size ({self.batch_size}) must be >= 1, lr ({self.lr}) > 0 and train_pool "
                   f"({self.train_pool}) >= 0")
            raise InputError(msg)

    def trainer_options(self, progress: bool = True) -> TrainerOptions:
        return TrainerOptions(max_epochs=self.epochs, patience=self.patience, monitor=SELECTION_METRIC,
                              devices=self.devices, strategy=self.strategy, progress=progress,
                              log_every_n_steps=1)


@dataclass
class SEWTrainConfig:
    """Everything ``train sew`` needs; saved resolved into ``config.json``."""

    slides: SlideCohort = field(default_factory=SlideCohort)
    architecture: SEWArchitecture = field(default_factory=SEWArchitecture)
    reading: SEWReading = field(default_factory=SEWReading)
    training: SEWTraining = field(default_factory=SEWTraining)
