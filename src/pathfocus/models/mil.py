"""Exhaustive baseline: a frozen timm tile encoder and gated-attention MIL pooling.

Ilse, Tomczak & Welling, "Attention-based Deep Multiple Instance Learning", ICML 2018 (gated variant,
eq. 9): a_i = softmax_i(w^T (tanh(V h_i) * sigmoid(U h_i))), z = sum_i a_i h_i. It exists to be measured
against SEW: every tissue tile is encoded, so its cost is the cost of reading the whole slide.
Pure ``nn.Module`` s: no file paths, no losses, no data loading.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from pathfocus.errors import InputError, WeightsUnavailableError

DEFAULT_ENCODER = "convnextv2_atto"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class MILOutput(NamedTuple):
    """Slide logits (``num_classes``) and the attention over the bag's instances (sums to one)."""

    logits: torch.Tensor
    attention: torch.Tensor


class GatedAttentionPool(nn.Module):
    """Gated attention pooling of a bag ``h`` (N x D) into one embedding (D) with weights (N)."""

    def __init__(self, in_dim: int, attention_dim: int = 64) -> None:
        super().__init__()
        self.attention_v = nn.Linear(in_dim, attention_dim)
        self.attention_u = nn.Linear(in_dim, attention_dim)
        self.attention_w = nn.Linear(attention_dim, 1)

    def scores(self, h: torch.Tensor) -> torch.Tensor:
        """Unnormalised attention scores w^T(tanh(V h) * sigmoid(U h)), one per instance."""
        gated = torch.tanh(self.attention_v(h)) * torch.sigmoid(self.attention_u(h))
        return self.attention_w(gated).squeeze(-1)

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if h.ndim != 2 or h.shape[0] == 0:
            msg = f"a bag must be a non-empty N x D tensor, got shape {tuple(h.shape)}"
            raise ValueError(msg)
        attention = torch.softmax(self.scores(h), dim=0)
        return attention @ h, attention


class GatedAttentionMIL(nn.Module):
    """Project tile features, pool them with gated attention, classify the slide embedding."""

    def __init__(self, in_dim: int, num_classes: int, hidden_dim: int = 128, attention_dim: int = 64,
                 dropout: float = 0.25) -> None:
        super().__init__()
        self.project = nn.Sequential(nn.Linear(in_dim, hidden_dim), nn.ReLU(), nn.Dropout(dropout))
        self.pool = GatedAttentionPool(hidden_dim, attention_dim)
        self.classifier = nn.Linear(hidden_dim, num_classes)

    def forward(self, features: torch.Tensor) -> MILOutput:
        """``features``: one bag, N x in_dim (a leading batch dimension of one is accepted)."""
        if features.ndim == 3 and features.shape[0] == 1:
            features = features[0]
        embedding, attention = self.pool(self.project(features))
        return MILOutput(self.classifier(embedding), attention)


class FrozenTileEncoder(nn.Module):
    """A timm backbone giving pooled features per tile; frozen (eval mode, no gradients).

    Takes float RGB tiles in [0, 1] (N x 3 x H x W) and resizes them to ``input_size`` before
    normalising with the backbone's own mean and std: tiles are *read* at full resolution (that is
    the exhaustive cost) but may be *encoded* smaller to keep CPU runs short.
    """

    def __init__(self, name: str = DEFAULT_ENCODER, input_size: int = 128, pretrained: bool = False) -> None:
        super().__init__()
        self.name = name
        self.input_size = int(input_size)
        self.backbone = create_backbone(name, pretrained=pretrained)
        config = self.backbone.pretrained_cfg
        mean = torch.tensor(config.get("mean", IMAGENET_MEAN), dtype=torch.float32).view(1, 3, 1, 1)
        std = torch.tensor(config.get("std", IMAGENET_STD), dtype=torch.float32).view(1, 3, 1, 1)
        self.register_buffer("mean", mean, persistent=False)
        self.register_buffer("std", std, persistent=False)
        self.backbone.requires_grad_(False)
        self.backbone.eval()

    @property
    def num_features(self) -> int:
        return int(self.backbone.num_features)

    def train(self, mode: bool = True) -> FrozenTileEncoder:
        # NOTE: frozen means frozen: BatchNorm/dropout stay in eval mode even inside a training loop.
        super().train(mode)
        self.backbone.eval()
        return self

    def forward(self, tiles: torch.Tensor) -> torch.Tensor:
        if tiles.shape[-1] != self.input_size or tiles.shape[-2] != self.input_size:
            tiles = F.interpolate(tiles, size=(self.input_size, self.input_size), mode="bilinear",
                                  antialias=True, align_corners=False)
        return self.backbone((tiles - self.mean) / self.std)


class ExhaustiveMIL(nn.Module):
    """The whole baseline in one module, so a run folder holds encoder and head together."""

    def __init__(self, encoder: FrozenTileEncoder, head: GatedAttentionMIL) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = head

    def forward(self, tiles: torch.Tensor) -> MILOutput:
        return self.head(self.encoder(tiles))


def create_backbone(name: str, pretrained: bool = False) -> nn.Module:
    """A timm model without classifier (pooled features per image), random or with timm's weights.

    Local weights (``--weights FILE``) are loaded by training, not here: models hold no file paths.
    """
    import timm

    if not (timm.is_model(name) or name.startswith(("hf-hub:", "local-dir:"))):
        msg = f"unknown timm encoder {name!r}; pass a name from timm.list_models(), e.g. {DEFAULT_ENCODER!r}"
        raise InputError(msg)
    try:
        return timm.create_model(name, pretrained=pretrained, num_classes=0)
    except Exception as error:  # timm and huggingface_hub raise many types when offline
        if not pretrained:
            raise
        msg = (f"pretrained weights for encoder {name!r} could not be loaded ({type(error).__name__}); "
               "pass --weights FILE with a local safetensors file of this encoder instead")
        raise WeightsUnavailableError(msg) from error
