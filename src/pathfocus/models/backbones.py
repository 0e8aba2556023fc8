"""Every timm backbone pathfocus uses is made here: offline-safe, with local weights and its preprocessing.

Three things are easy to get wrong and are therefore done once:

* **Offline by default.** Nothing is downloaded unless ``pretrained=True`` is asked for; when weights cannot
  be had the user gets one sentence naming the local alternative (``--weights FILE``).
* **Local weights** (a ``.safetensors`` file) are matched tensor by tensor, tolerating a classifier for
  another number of classes and the usual ``model.`` / ``backbone.`` prefixes; too few matches is an
  error rather than a silently random backbone. Pickled checkpoints are never loaded.
* **Preprocessing belongs to the model.** Foundation models declare their own mean, std and input size;
  :class:`DataConfig` reads them with ``timm.data.resolve_data_config`` so patch transforms, tile encoders
  and SEW's detail encoder normalise as the model expects. Run folders store it, so analysis reuses it
  without rebuilding (or downloading) anything.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pathfocus.errors import CheckpointError, InputError, WeightsUnavailableError

if TYPE_CHECKING:  # NOTE: torch and timm load lazily, so settings modules (and the CLI's help) stay light
    from torch import nn

log = logging.getLogger(__name__)

DEFAULT_BACKBONE = "convnextv2_atto"
# the tile encoder SimCLR pretrains by default: timm's 0.4 M-parameter ResNet-D (one block per stage), small
# enough to pretrain in minutes on two CPU cores; a wider net is an --encoder-backbone away
DEFAULT_TILE_BACKBONE = "test_resnet"
HUB_PREFIXES = ("hf-hub:", "local-dir:")
_WEIGHT_PREFIXES = ("", "model.", "backbone.", "module.", "encoder.")
MIN_MATCHED_SHARE = 0.9


@dataclass(frozen=True)
class DataConfig:
    """How a backbone wants its input: RGB in [0, 1] normalised by ``mean``/``std`` at ``input_size`` px."""

    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    input_size: int

    @classmethod
    def of(cls, model: nn.Module) -> DataConfig:
        """The model's own preprocessing as timm resolves it (ImageNet statistics when it declares none)."""
        from timm.data import resolve_data_config

        resolved = resolve_data_config({}, model=model)
        return cls(tuple(float(v) for v in resolved["mean"]), tuple(float(v) for v in resolved["std"]),
                   int(resolved["input_size"][-1]))

    def with_input_size(self, size: int | None) -> DataConfig:
        """The same normalisation at another input size (None keeps the model's own)."""
        return self if size is None else DataConfig(self.mean, self.std, int(size))

    def to_dict(self) -> dict[str, Any]:
        return {"mean": list(self.mean), "std": list(self.std), "input_size": self.input_size}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> DataConfig:
        return cls(tuple(values["mean"]), tuple(values["std"]), int(values["input_size"]))


def check_backbone_name(name: str) -> None:
    """Refuse a name timm does not know (hub ids are checked when they are fetched)."""
    import timm

    if not (name.startswith(HUB_PREFIXES) or timm.is_model(name)):
        msg = (f"unknown backbone {name!r}; use a timm model name (see `timm.list_models()`, e.g. "
               f"{DEFAULT_BACKBONE!r}) or 'hf-hub:ORG/NAME'")
        raise InputError(msg)


def create_backbone(name: str, pretrained: bool = False, weights: str | Path | None = None,
                    **timm_options: Any) -> nn.Module:
    """A timm model, random or with its published weights (``pretrained``) or a local file (``weights``).

    ``timm_options`` go to ``timm.create_model`` (e.g. ``num_classes=0, global_pool=""`` for a feature map).
    Raises :class:`WeightsUnavailableError` with the offline alternative when weights cannot be fetched.
    """
    import timm

    check_backbone_name(name)
    try:
        model = timm.create_model(name, pretrained=pretrained, **timm_options)
    except Exception as error:  # timm and huggingface_hub raise many types when offline
        if not (pretrained or name.startswith(HUB_PREFIXES)):
            raise
        msg = (f"pretrained weights for backbone {name!r} could not be loaded ({type(error).__name__}); "
               "pass --weights FILE with a local .safetensors file of this backbone instead")
        raise WeightsUnavailableError(msg) from error
    if weights is not None:
        load_backbone_weights(model, weights)
    return model


def load_backbone_weights(backbone: nn.Module, path: str | Path) -> int:
    """Copy matching tensors from a safetensors file into ``backbone``; returns how many were loaded."""
    from safetensors.torch import load_file

    file = Path(path)
    if not file.is_file():
        msg = f"weights file {file} does not exist; pass a local .safetensors file of the backbone"
        raise InputError(msg)
    if file.suffix != ".safetensors":
        msg = f"{file} is not a .safetensors file; convert it (pickled .pth/.bin files are never loaded)"
        raise InputError(msg)
    try:
        saved = load_file(str(file))
    except Exception as error:  # safetensors raises its own types for corrupt headers
        msg = f"{file} is not a readable safetensors file ({error})"
        raise CheckpointError(msg) from error
    target = backbone.state_dict()
    best: dict = {}
    for prefix in _WEIGHT_PREFIXES:
        stripped = {k[len(prefix):]: v for k, v in saved.items() if k.startswith(prefix)}
        matched = {k: v for k, v in stripped.items()
                   if k in target and tuple(v.shape) == tuple(target[k].shape)}
        if len(matched) > len(best):
            best = matched
    share = len(best) / max(1, len(target))
    if share < MIN_MATCHED_SHARE:
        msg = (f"{file} matches only {len(best)} of the backbone's {len(target)} tensors; is it a checkpoint "
               "of the backbone given with --backbone / --encoder?")
        raise CheckpointError(msg)
    backbone.load_state_dict(best, strict=False)
    log.info("loaded %d/%d backbone tensors from %s", len(best), len(target), file)
    return len(best)


def backbone_spec(name: str, pretrained: bool, weights: str | Path | None,
                  data: DataConfig) -> dict[str, Any]:
    """What a run records about its backbone (the weights themselves live in the run's safetensors)."""
    return {"name": name, "pretrained": pretrained, "weights": None if weights is None else str(weights),
            "data_config": data.to_dict()}


@dataclass(frozen=True)
class TileEncoderSpec:
    """Which frozen encoder turns tiles into features, the same one for SEW and the exhaustive baseline.

    ``source``:

    * ``ssl`` (default): ``backbone`` pretrained self-supervised (SimCLR) on tiles of the cohort's own
      training slides, offline (see ``pathfocus.training.encoder``); runs on the same slides share it;
    * ``ssl:DIR``: an encoder written by ``pathfocus train encoder --out DIR``;
    * ``timm:NAME`` (or a bare timm name): random weights, unless ``pretrained`` (timm's published ones,
      downloaded) or ``weights`` (a local safetensors) says otherwise;
    * ``hf-hub:ORG/NAME``: a hub model, e.g. a pathology foundation model, with its own normalisation.

    ``input_size``: tiles are encoded at this side (both methods shrink alike; reading is at full size).
    """

    source: str = "ssl"
    backbone: str = DEFAULT_TILE_BACKBONE
    input_size: int = 128
    pretrained: bool = False
    weights: str | None = None

    def __post_init__(self) -> None:
        if self.input_size < 16:
            msg = f"encoder input_size must be at least 16 px, got {self.input_size}"
            raise InputError(msg)
        if self.kind == "ssl-dir" and not self.source.partition(":")[2]:
            msg = "an ssl: encoder needs its folder, e.g. --encoder ssl:runs/encoder"
            raise InputError(msg)

    @property
    def kind(self) -> str:
        """``ssl`` (pretrain here), ``ssl-dir``, ``hub`` or ``timm``."""
        if self.source == "ssl":
            return "ssl"
        if self.source.startswith("ssl:"):
            return "ssl-dir"
        if self.source.startswith(HUB_PREFIXES):
            return "hub"
        return "timm"

    @property
    def folder(self) -> Path | None:
        """The encoder folder of an ``ssl:DIR`` source."""
        return Path(self.source[4:]) if self.kind == "ssl-dir" else None

    @property
    def timm_name(self) -> str:
        """The timm model a ``timm`` or ``hub`` source names (``ssl`` ones use ``backbone``)."""
        if self.kind == "hub":
            return self.source
        if self.kind == "timm":
            return self.source.removeprefix("timm:")
        return self.backbone

    def describe(self) -> str:
        """What the encoder's weights are, in words (reports never hide a random-weights encoder)."""
        if self.kind == "ssl":
            return f"{self.backbone} pretrained self-supervised (SimCLR) on the training slides' tiles"
        if self.kind == "ssl-dir":
            return f"an encoder pretrained self-supervised ({self.folder})"
        if self.weights:
            return f"{self.timm_name} with local weights {self.weights}"
        if self.pretrained or self.kind == "hub":
            return f"{self.timm_name} with its published pretrained weights"
        return f"{self.timm_name} with RANDOM weights (no pretraining)"
