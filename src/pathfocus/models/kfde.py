"""KFDE patch classifiers: a timm backbone, optional CSFE and MFDF on its last feature map, a linear head.

Paper: KFDE (ConvNeXt-V2 -> CSFE -> MFDF -> global pooling -> fully connected layer) and its ablations
(``baseline``, ``csfe``, ``mfdf``, ``kfde``) on any timm backbone, plus the paper's comparison CNNs
(``resnet50``, ``vgg16``, ``densenet121``: backbone + head, their name is their backbone).

The models follow timm's contract (``forward_features``, ``forward_head(pre_logits=)``,
``reset_classifier``, ``pretrained_cfg``, ``num_features``) and declare their Grad-CAM target. Their
:class:`ModelConfig` is the provenance the training code saves next to a checkpoint and compares on load.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from pathfocus.errors import InputError
from pathfocus.models.backbones import DEFAULT_BACKBONE, create_backbone
from pathfocus.models.layers.csfe import CSFE
from pathfocus.models.layers.mfdf import MFDF


@dataclass(frozen=True)
class VariantSpec:
    """What a registered model name adds to its backbone; ``backbone`` fixes it for the comparison CNNs."""

    csfe: bool = False
    mfdf: bool = False
    backbone: str | None = None


VARIANTS: dict[str, VariantSpec] = {
    "baseline": VariantSpec(),
    "csfe": VariantSpec(csfe=True),
    "mfdf": VariantSpec(mfdf=True),
    "kfde": VariantSpec(csfe=True, mfdf=True),
    "resnet50": VariantSpec(backbone="resnet50"),
    "vgg16": VariantSpec(backbone="vgg16"),
    "densenet121": VariantSpec(backbone="densenet121"),
}
MODEL_NAMES: tuple[str, ...] = tuple(VARIANTS)


@dataclass(frozen=True)
class ModelConfig:
    """Everything that fixes a classifier's architecture (weights excluded); ``to_dict`` is JSON-ready."""

    name: str
    num_classes: int
    backbone: str = DEFAULT_BACKBONE
    drop_rate: float = 0.0
    cfe_groups: int = 16
    cfe_threshold: float = 0.5
    sfe_lam: float = 1e-4
    sfe_beta: float = 0.5
    mfdf_kernel_sizes: tuple[int, ...] = (3, 5, 7)
    mfdf_reduction: int = 16
    mfdf_min_dim: int = 32

    def __post_init__(self) -> None:
        if self.name not in VARIANTS:
            msg = f"Unknown model '{self.name}'; choose one of {', '.join(MODEL_NAMES)}."
            raise InputError(msg)
        fixed = VARIANTS[self.name].backbone
        if fixed is not None and self.backbone != fixed:
            msg = (f"Model '{self.name}' is its own backbone, got backbone '{self.backbone}'; "
                   "use model 'baseline' to put a head on another backbone.")
            raise InputError(msg)
        if self.num_classes < 0:
            msg = f"num_classes must be >= 0 (0 gives pooled features), got {self.num_classes}."
            raise InputError(msg)
        if not 0.0 <= self.drop_rate < 1.0:
            msg = f"drop_rate must be in [0, 1), got {self.drop_rate}."
            raise InputError(msg)
        object.__setattr__(self, "mfdf_kernel_sizes", tuple(int(k) for k in self.mfdf_kernel_sizes))

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["mfdf_kernel_sizes"] = list(self.mfdf_kernel_sizes)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        """Rebuild a saved config; unknown keys are an error, so a newer file is not silently misread."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            msg = (f"Model config has unknown keys {unknown}; it was written by another pathfocus "
                   "version, so re-train or upgrade.")
            raise InputError(msg)
        return cls(**data)


class PatchClassifier(nn.Module):
    """Backbone feature map -> [CSFE] -> [MFDF] -> global average pool -> dropout -> linear.

    Build it with :func:`create_model` or :func:`build_model`. The backbone runs in full with timm's
    ``num_classes=0, global_pool=""``, so its "last feature map" includes whatever timm applies before
    pooling (ConvNeXt's head LayerNorm, VGG's fc6/fc7 as convolutions).
    """

    def __init__(self, config: ModelConfig, backbone: nn.Module) -> None:
        super().__init__()
        self.config = config
        self.backbone = backbone
        channels = int(getattr(backbone, "head_hidden_size", None) or backbone.num_features)
        spec = VARIANTS[config.name]
        self.csfe = (CSFE(channels, groups=config.cfe_groups, threshold=config.cfe_threshold,
                          lam=config.sfe_lam, beta=config.sfe_beta) if spec.csfe else nn.Identity())
        self.mfdf = (MFDF(channels, kernel_sizes=config.mfdf_kernel_sizes, reduction=config.mfdf_reduction,
                          min_dim=config.mfdf_min_dim) if spec.mfdf else nn.Identity())
        self.num_features = self.head_hidden_size = channels
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.head_drop = nn.Dropout(config.drop_rate)
        self.pretrained_cfg: dict[str, Any] = copy.deepcopy(dict(getattr(backbone, "pretrained_cfg", {})))
        self.fc: nn.Module = nn.Identity()
        self.reset_classifier(config.num_classes)
        self.target_layer_name = self._target_layer_name(spec)

    @property
    def num_classes(self) -> int:
        return self.config.num_classes

    def _target_layer_name(self, spec: VariantSpec) -> str:
        """The last module whose output is the (enhanced) feature map that the head pools."""
        if spec.mfdf:
            return "mfdf"
        if spec.csfe:
            return "csfe"
        info = getattr(self.backbone, "feature_info", None)
        if info:
            name = f"backbone.{info[-1]['module']}"
            try:
                self.get_submodule(name)
            except AttributeError:
                return "backbone"
            return name
        return "backbone"

    def gradcam_target_layers(self) -> list[nn.Module]:
        """Modules for Grad-CAM's ``target_layers`` (see ``target_layer_name``)."""
        return [self.get_submodule(self.target_layer_name)]

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the linear head (0 classes: the model returns pooled features)."""
        self.config = replace(self.config, num_classes=num_classes)
        self.fc = nn.Linear(self.num_features, num_classes) if num_classes > 0 else nn.Identity()
        self.pretrained_cfg["num_classes"] = num_classes

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The feature map after the enhancement modules (N×C×h×w)."""
        feats = self.backbone(x)
        if feats.ndim != 4:
            msg = (f"Backbone '{self.config.backbone}' returns a {feats.ndim}-D output, not an N×C×H×W "
                   "feature map; use a convolutional backbone (e.g. convnextv2_atto).")
            raise InputError(msg)
        return self.mfdf(self.csfe(feats))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.head_drop(self.global_pool(x).flatten(1))
        return x if pre_logits else self.fc(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def build_model(config: ModelConfig, pretrained: bool = False,
                weights: str | Path | None = None) -> PatchClassifier:
    """The classifier a config describes (``weights``: a local safetensors file of the backbone)."""
    backbone = create_backbone(config.backbone, pretrained, weights, num_classes=0, global_pool="")
    return PatchClassifier(config, backbone)


def create_model(name: str, num_classes: int, backbone: str = DEFAULT_BACKBONE, pretrained: bool = False,
                 weights: str | Path | None = None, **options: Any) -> PatchClassifier:
    """A registered classifier (see ``MODEL_NAMES``) on a timm backbone.

    Args:
        name: ``baseline``, ``csfe``, ``mfdf``, ``kfde`` (any timm backbone) or ``resnet50``, ``vgg16``,
            ``densenet121`` (these ignore ``backbone``: the name is the backbone).
        num_classes: head outputs; 0 returns pooled features.
        backbone: timm model name or ``hf-hub:`` id.
        pretrained: load timm's weights for the backbone; raises WeightsUnavailableError when they cannot
            be had (with ``HF_HUB_OFFLINE=1`` this fails within seconds).
        weights: a local ``.safetensors`` file of the backbone (the offline way to start pretrained).
        **options: other :class:`ModelConfig` fields (``drop_rate``, ``cfe_groups``, ...).
    """
    if name not in VARIANTS:
        msg = f"Unknown model '{name}'; choose one of {', '.join(MODEL_NAMES)}."
        raise InputError(msg)
    fixed = VARIANTS[name].backbone
    config = ModelConfig(name=name, num_classes=num_classes, backbone=fixed or backbone, **options)
    return build_model(config, pretrained=pretrained, weights=weights)
