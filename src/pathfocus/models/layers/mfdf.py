"""MFDF: KFDE's multi-scale feature dynamic fusion, selective-kernel style (eqs. 10-14).

Paper: KFDE, section "Multi-Scale Feature Dynamic Fusion Module"; the design follows SKNet (Li et al.,
CVPR 2019). K parallel branches with different kernel sizes see the map at different scales; a small
attention network computes, per sample and channel, a softmax over branches that says how much each
scale contributes.

Our choices where the paper is silent:
- Each branch is depthwise k×k conv -> pointwise 1×1 conv -> BatchNorm -> ReLU (depthwise-separable, as
  in docs/design.md) so the cost stays small on wide maps: about K·C² MACs per position instead of K·k²·C².
- fc1 is Linear(C, d) + ReLU with d = max(C // reduction, min_dim), as in SKNet; the K heads fc2_k are
  stored as one Linear(d, K·C), which is the same map as K separate Linear(d, C).
- Kernel sizes must be odd so that every branch keeps H×W ("same" padding).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from pathfocus.errors import InputError


def _branch(channels: int, kernel_size: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(channels, channels, kernel_size, padding=kernel_size // 2, groups=channels, bias=False),
        nn.Conv2d(channels, channels, 1, bias=False),
        nn.BatchNorm2d(channels),
        nn.ReLU(inplace=True),
    )


class MFDF(nn.Module):
    """F = Σ_k α_k ⊙ X_k with α = softmax over branches of fc2_k(fc1(GAP(Σ_k X_k))).

    Args:
        channels: C, the input's (and output's) channel count.
        kernel_sizes: one odd kernel size per branch.
        reduction: C // reduction is the attention bottleneck width ...
        min_dim: ... unless smaller than this.

    After each forward, ``last_attention`` holds α (N×K×C, detached) for explanation and tests.
    """

    def __init__(self, channels: int, kernel_sizes: Sequence[int] = (3, 5, 7), reduction: int = 16,
                 min_dim: int = 32) -> None:
        super().__init__()
        kernel_sizes = tuple(int(k) for k in kernel_sizes)
        if not kernel_sizes or any(k < 1 or k % 2 == 0 for k in kernel_sizes):
            msg = f"MFDF kernel sizes must be a non-empty list of odd integers, got {kernel_sizes}."
            raise InputError(msg)
        if channels < 1 or reduction < 1 or min_dim < 1:
            msg = f"MFDF needs channels, reduction and min_dim >= 1, got {channels}, {reduction}, {min_dim}."
            raise InputError(msg)
        self.channels = channels
        self.kernel_sizes = kernel_sizes
        self.dim = max(channels // reduction, min_dim)
        self.branches = nn.ModuleList(_branch(channels, k) for k in kernel_sizes)
        self.fc1 = nn.Sequential(nn.Linear(channels, self.dim), nn.ReLU(inplace=True))
        self.fc2 = nn.Linear(self.dim, len(kernel_sizes) * channels)
        self.last_attention: torch.Tensor | None = None

    def attention(self, u: torch.Tensor) -> torch.Tensor:
        """α of eq. (13) from the fused map U of eq. (10): N×K×C, summing to one over K."""
        p = u.mean(dim=(2, 3))  # eq. (11)
        c = self.fc1(p)  # eq. (12)
        logits = self.fc2(c).view(u.shape[0], len(self.branches), self.channels)
        return logits.softmax(dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = torch.stack([branch(x) for branch in self.branches], dim=1)  # N×K×C×H×W
        alpha = self.attention(feats.sum(dim=1))
        self.last_attention = alpha.detach()
        return (alpha[..., None, None] * feats).sum(dim=1)  # eq. (14)

    def extra_repr(self) -> str:
        return f"channels={self.channels}, kernel_sizes={self.kernel_sizes}, dim={self.dim}"
