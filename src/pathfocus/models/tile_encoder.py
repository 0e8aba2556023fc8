"""A frozen timm backbone that turns RGB tiles into one feature vector each.

The exhaustive baseline encodes every tissue tile with it; SEW's detail branch encodes the tiles of the few
windows it reads with the same one, so the two methods differ only in *which* tiles they read. Tiles are
*read* at full resolution (that is the cost being compared) and may be *encoded* at a smaller
``input_size`` to keep CPU runs short; both methods shrink alike. Normalisation is the backbone's own
(:class:`~pathfocus.models.backbones.DataConfig`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from pathfocus.models.backbones import DEFAULT_BACKBONE, DataConfig, create_backbone


class TileEncoder(nn.Module):
    """Float RGB tiles in [0, 1] (N x 3 x H x W) -> pooled features (N x D); frozen (eval, no gradients)."""

    def __init__(
        self,
        name: str = DEFAULT_BACKBONE,
        input_size: int | None = 128,
        pretrained: bool = False,
        backbone: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.name = name
        self.backbone = backbone if backbone is not None else create_backbone(name, pretrained, num_classes=0)
        self.data_config = DataConfig.of(self.backbone).with_input_size(input_size)
        self.input_size = self.data_config.input_size
        self.register_buffer("mean", torch.tensor(self.data_config.mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(self.data_config.std).view(1, 3, 1, 1), persistent=False)
        self.backbone.requires_grad_(False)
        self.backbone.eval()

    @property
    def num_features(self) -> int:
        """Width of the pooled output (``head_hidden_size`` where timm has a pre-logits stage)."""
        return int(getattr(self.backbone, "head_hidden_size", None) or self.backbone.num_features)

    def train(self, mode: bool = True) -> TileEncoder:
        # NOTE: frozen means frozen: BatchNorm/dropout stay in eval mode even inside a training loop.
        super().train(mode)
        self.backbone.eval()
        return self

    def forward(self, tiles: torch.Tensor) -> torch.Tensor:
        if tiles.shape[-1] != self.input_size or tiles.shape[-2] != self.input_size:
            tiles = F.interpolate(
                tiles,
                size=(self.input_size, self.input_size),
                mode="bilinear",
                antialias=True,
                align_corners=False,
            )
        return self.backbone((tiles - self.mean) / self.std)
