"""SFE: spatial-level feature enhancement, the parameter-free spatial branch of KFDE's CSFE module.

Paper: KFDE, eqs. (6)-(9); the energy function is SimAM's (Yang et al., ICML 2021). Each position's
squared deviation from its channel mean, scaled by that channel's spatial variance, says how much it
stands out; a sigmoid of that energy reweights the input.

As in the paper's eq. (7), the variance divides by n = H·W (SimAM's code divides by H·W - 1).
"""

from __future__ import annotations

import torch
from torch import nn


class SFE(nn.Module):
    """out = x · sigmoid(d / (4(σ² + λ)) + β), with d = (x - μ_c)² and σ² = mean of d over H·W.

    Args:
        lam: λ of eq. (8), keeps flat channels (σ² = 0) finite.
        beta: β of eq. (8).
    """

    def __init__(self, lam: float = 1e-4, beta: float = 0.5) -> None:
        super().__init__()
        self.lam = float(lam)
        self.beta = float(beta)

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        """E_inv of eq. (8), one value per element of ``x`` (N×C×H×W)."""
        d = (x - x.mean(dim=(2, 3), keepdim=True)).pow(2)
        var = d.mean(dim=(2, 3), keepdim=True)
        return d / (4.0 * (var + self.lam)) + self.beta

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.energy(x))

    def extra_repr(self) -> str:
        return f"lam={self.lam}, beta={self.beta}"
