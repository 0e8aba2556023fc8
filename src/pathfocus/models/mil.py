"""Exhaustive baseline: a frozen tile encoder and gated-attention MIL pooling.

Ilse, Tomczak & Welling, "Attention-based Deep Multiple Instance Learning", ICML 2018 (gated variant,
eq. 9): a_i = softmax_i(w^T (tanh(V h_i) * sigmoid(U h_i))), z = sum_i a_i h_i. It exists to be measured
against SEW: every tissue tile is encoded, so its cost is the cost of reading the whole slide.
Pure ``nn.Module`` s: no file paths, no losses, no data loading.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from pathfocus.errors import InputError
from pathfocus.models.tile_encoder import TileEncoder


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
            raise InputError(msg)
        attention = torch.softmax(self.scores(h), dim=0)
        return attention @ h, attention


class GatedAttentionMIL(nn.Module):
    """Project tile features, pool them with gated attention, classify the slide embedding."""

    def __init__(self, in_dim: int, num_classes: int, hidden_dim: int = 128, attention_dim: int = 64,
                 dropout: float = 0.25) -> None:
        super().__init__()
        # LayerNorm first, as SEW's detail branch does: encoders' features differ in scale by orders of
        # magnitude, and unnormalised the attention can sit at uniform for dozens of epochs
        self.project = nn.Sequential(
            nn.LayerNorm(in_dim), nn.Linear(in_dim, hidden_dim), nn.ReLU(), nn.Dropout(dropout)
        )
        self.pool = GatedAttentionPool(hidden_dim, attention_dim)
        self.classifier = nn.Linear(hidden_dim, num_classes)

    def forward(self, features: torch.Tensor) -> MILOutput:
        """``features``: one bag, N x in_dim (a leading batch dimension of one is accepted)."""
        if features.ndim == 3 and features.shape[0] == 1:
            features = features[0]
        embedding, attention = self.pool(self.project(features))
        return MILOutput(self.classifier(embedding), attention)


class ExhaustiveMIL(nn.Module):
    """The whole baseline in one module, so a run folder holds encoder and head together."""

    def __init__(self, encoder: TileEncoder, head: GatedAttentionMIL) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = head

    def forward(self, tiles: torch.Tensor) -> MILOutput:
        return self.head(self.encoder(tiles))
