"""How SEW learns, and everything ``train sew`` is told, one section per concern (a light module).

``slides`` (cohort and split), ``architecture`` (:class:`~pathfocus.models.sew_settings.SEWArchitecture`),
``reading`` (:class:`~pathfocus.engines.sew.reading.SEWReading`), ``encoder`` (the frozen tile encoder,
shared with the exhaustive baseline), ``ssl`` (how the default encoder is pretrained) and ``training``
(:class:`SEWTraining`). ``config.json`` records them resolved.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pathfocus.engines.sew.reading import SEWReading
from pathfocus.errors import InputError
from pathfocus.models.backbones import TileEncoderSpec
from pathfocus.models.sew_settings import SEWArchitecture
from pathfocus.training.encoder.config import SSLSettings
from pathfocus.training.options import SlideCohort, TrainerOptions

# model selection and early stopping: cross-entropy of the fused slide prediction on the validation split
SELECTION_METRIC = "val_slide_loss"
# what ranks a slide's windows for its pseudo-labels: the detail branch's attention over every window, or
# their novelty against the lesion-free training slides' windows (training/sew/novelty.py)
PSEUDO_SOURCES = ("attention", "novelty")


@dataclass
class SEWTraining:
    """Loss weights and switches (ablations), pseudo-labels, exploration, optimiser, epochs, seed.

    ``lambda_all_windows``: cross-entropy of the detail branch run over *every* candidate window of a
    training slide (attention MIL over cached tile features; training only). ``lambda_region``: the
    window pseudo-label loss (every window of a lesion-free slide is normal; in any other slide the
    ``pseudo_k`` windows ranked highest by ``pseudo_source`` take the slide's label and the ``pseudo_k``
    ranked lowest are normal), or the annotations' labels where ``annotations`` holds lesion
    polygons/masks for a slide. ``pseudo_source``: ``novelty`` (default; distance to the lesion-free
    training slides' windows, fixed before training, so it cannot drift; attention when no training slide
    is lesion-free) or ``attention`` (the all-window pass's attention, which moves with the branch).
    ``lambda_focus``: the focus predictor is calibrated against the detail branch's lesion score of every
    candidate window (BCE plus a listwise term that ranks). ``explore``: share of the k windows drawn at
    random in training.
    """

    lambda_cst: float = 0.5
    lambda_focus: float = 4.0
    lambda_region: float = 1.0
    lambda_all_windows: float = 1.0
    use_consistency: bool = True
    use_focus_loss: bool = True
    pseudo_k: int = 2
    pseudo_source: str = "novelty"
    explore: float = 0.25
    annotations: str | None = None
    epochs: int = 60
    patience: int = 30
    ema_decay: float = 0.0
    batch_size: int = 2
    lr: float = 1e-3
    weight_decay: float = 1e-2
    seed: int = 0
    devices: str = "auto"
    strategy: str = "auto"
    num_nodes: int = 1

    def __post_init__(self) -> None:
        if not 0.0 <= self.explore < 1.0:
            msg = f"explore must lie in [0, 1), got {self.explore}"
            raise InputError(msg)
        if self.pseudo_source not in PSEUDO_SOURCES:
            msg = f"pseudo_source must be one of {', '.join(PSEUDO_SOURCES)}, got {self.pseudo_source!r}"
            raise InputError(msg)
        if self.batch_size < 1 or self.lr <= 0 or self.pseudo_k < 1:
            msg = (f"batch_size ({self.batch_size}) and pseudo_k ({self.pseudo_k}) must be >= 1 and lr "
                   f"({self.lr}) > 0")
            raise InputError(msg)

    def trainer_options(self, progress: bool = True) -> TrainerOptions:
        return TrainerOptions(max_epochs=self.epochs, patience=self.patience, monitor=SELECTION_METRIC,
                              devices=self.devices, strategy=self.strategy, num_nodes=self.num_nodes,
                              progress=progress,
                              log_every_n_steps=1, ema_decay=self.ema_decay)


@dataclass
class SEWTrainConfig:
    """Everything ``train sew`` needs; saved resolved into ``config.json``."""

    slides: SlideCohort = field(default_factory=SlideCohort)
    architecture: SEWArchitecture = field(default_factory=SEWArchitecture)
    reading: SEWReading = field(default_factory=SEWReading)
    encoder: TileEncoderSpec = field(default_factory=TileEncoderSpec)
    ssl: SSLSettings = field(default_factory=SSLSettings)
    training: SEWTraining = field(default_factory=SEWTraining)
