"""What ``train patch`` is told, one section per concern (a light settings module).

``data`` (which images, how loaded), ``model`` (registry name, backbone, weights) and ``training``
(epochs, early stopping, optimiser, seed, hardware). ``config.json`` records them resolved.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pathfocus.devices import default_loader_workers
from pathfocus.errors import InputError
from pathfocus.models.backbones import DEFAULT_BACKBONE
from pathfocus.training.options import TrainerOptions

MAGNIFICATIONS = ("40", "100", "200", "400", "all")
TASKS = ("binary", "subtype")


@dataclass
class PatchDataConfig:
    """Which images to use and how to load them (``image_size`` None: the backbone's own input size;
    ``workers`` None: one reader process per spare core, at most four)."""

    index: str = ""
    splits: str = ""
    fold: int = 1
    magnification: str = "all"
    task: str = "binary"
    image_size: int | None = None
    batch_size: int = 32
    workers: int | None = None

    def __post_init__(self) -> None:
        self.magnification = str(self.magnification)
        if self.magnification not in MAGNIFICATIONS:
            msg = f"--magnification must be one of {', '.join(MAGNIFICATIONS)}, not {self.magnification!r}"
            raise InputError(msg)
        if self.task not in TASKS:
            msg = f"--task must be binary or subtype, not {self.task!r}"
            raise InputError(msg)

    @property
    def loader_workers(self) -> int:
        return default_loader_workers() if self.workers is None else int(self.workers)



@dataclass
class PatchModelConfig:
    """What to build: a registry name from :mod:`pathfocus.models.kfde` on a timm backbone."""

    name: str = "kfde"
    backbone: str = DEFAULT_BACKBONE
    pretrained: bool = False
    weights: str | None = None


@dataclass
class PatchTraining:
    """How to train: epochs, early-stopping patience (on validation loss), optimiser, seed, hardware."""

    epochs: int = 20
    patience: int = 5
    lr: float = 1e-3
    weight_decay: float = 0.05
    seed: int = 0
    devices: str = "auto"
    strategy: str = "auto"
    num_nodes: int = 1

    def __post_init__(self) -> None:
        if self.lr <= 0:
            msg = f"lr must be positive, got {self.lr}"
            raise InputError(msg)

    def trainer_options(self, progress: bool = True) -> TrainerOptions:
        return TrainerOptions(max_epochs=self.epochs, patience=self.patience, devices=self.devices,
                              strategy=self.strategy, num_nodes=self.num_nodes, progress=progress)


@dataclass
class PatchTrainConfig:
    """Everything ``train patch`` needs, one section per concern; saved resolved into ``config.json``."""

    data: PatchDataConfig = field(default_factory=PatchDataConfig)
    model: PatchModelConfig = field(default_factory=PatchModelConfig)
    training: PatchTraining = field(default_factory=PatchTraining)
