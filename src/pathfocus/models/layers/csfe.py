"""CSFE: KFDE's channel-spatial feature enhancement, channel gating (CFE) then spatial energy (SFE).

Paper: KFDE, section "Channel-Spatial Feature Enhancement Module". Kept as its own module so that Grad-CAM
and checkpoints can name it (``csfe``) in the ``csfe`` and ``kfde`` model variants.
"""

from __future__ import annotations

import torch
from torch import nn

from pathfocus.models.layers.cfe import CFE
from pathfocus.models.layers.sfe import SFE


class CSFE(nn.Module):
    """SFE(CFE(x)); shape-preserving. Arguments are those of :class:`CFE` and :class:`SFE`."""

    def __init__(self, channels: int, groups: int = 16, threshold: float = 0.5, lam: float = 1e-4,
                 beta: float = 0.5) -> None:
        super().__init__()
        self.cfe = CFE(channels, groups=groups, threshold=threshold)
        self.sfe = SFE(lam=lam, beta=beta)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.sfe(self.cfe(x))
