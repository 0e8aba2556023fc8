"""CFE: channel-level feature enhancement, the channel branch of KFDE's CSFE module.

Paper: "Key Feature Dynamic Enhancement network (KFDE) for breast cancer pathological image
classification", eqs. (1)-(5). The design is the Spatial Reconstruction Unit (SRU) of SCConv
(Li et al., CVPR 2023): a GroupNorm's learnt scales rank the channels, a sigmoid gate splits the map into
an informative and a less informative part, and the two are cross-added half by half.

Our reading of the text, where it leaves room:
- x̂ in eq. (2) is the full GroupNorm output (normalised, then scaled by γ and shifted by its bias), and
  the gate r = sigmoid(x̂ · w_γ) is element-wise (N×C×H×W), not one number per channel: eq. (2) multiplies
  the map, and SRU does the same.
- The gates multiply the *input* x, not x̂: "The input feature x is then multiplied element-wise by w1 and
  w2" (as in SCConv's SRU code: ``x_1 = w1 * x``).
- The channel halves are the first C/2 and the last C/2 channels, so C must be even.
"""

from __future__ import annotations

import logging

import torch
from torch import nn

from pathfocus.errors import InputError

log = logging.getLogger(__name__)


def _group_count(channels: int, groups: int) -> int:
    """The largest divisor of ``channels`` that is at most ``groups`` (GroupNorm needs C % G == 0)."""
    return max(g for g in range(1, min(groups, channels) + 1) if channels % g == 0)


class CFE(nn.Module):
    """Channel gating by GroupNorm scales, then half-split cross reconstruction (eqs. 1-5).

    Args:
        channels: C, the input's channel count; must be even for the half split.
        groups: GroupNorm groups. When C is not divisible by it, the largest divisor of C below it is
            used instead (e.g. 24 channels with 16 groups -> 12 groups); ``self.groups`` holds the
            count in use.
        threshold: T of eq. (3); gate values above it keep the input whole in x1 and drop it from x2.
    """

    def __init__(self, channels: int, groups: int = 16, threshold: float = 0.5) -> None:
        super().__init__()
        if channels < 2 or channels % 2:
            msg = (f"CFE needs an even channel count >= 2 for its half split, got {channels}; use a "
                   "backbone whose last feature map has an even number of channels.")
            raise InputError(msg)
        if groups < 1:
            msg = f"CFE groups must be >= 1, got {groups}."
            raise InputError(msg)
        self.channels = channels
        self.groups = _group_count(channels, groups)
        if self.groups != groups:
            log.info("CFE: %d channels are not divisible by %d groups; using %d groups", channels, groups,
                     self.groups)
        self.threshold = float(threshold)
        self.norm = nn.GroupNorm(self.groups, channels)

    def gate(self, x: torch.Tensor) -> torch.Tensor:
        """r of eq. (2): sigmoid of the GroupNorm output scaled by the normalised γ of eq. (1)."""
        gamma = self.norm.weight
        # NOTE: eq. (1) divides by the plain sum of γ (not of |γ|), as SCConv does; γ starts at 1.
        w_gamma = (gamma / gamma.sum()).view(1, -1, 1, 1)
        return torch.sigmoid(self.norm(x) * w_gamma)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r = self.gate(x)
        salient = r > self.threshold
        w1 = torch.where(salient, torch.ones_like(r), r)
        w2 = torch.where(salient, torch.zeros_like(r), r)
        x1a, x1b = (w1 * x).chunk(2, dim=1)
        x2a, x2b = (w2 * x).chunk(2, dim=1)
        return torch.cat([x1a + x2b, x1b + x2a], dim=1)

    def extra_repr(self) -> str:
        return f"channels={self.channels}, groups={self.groups}, threshold={self.threshold}"
