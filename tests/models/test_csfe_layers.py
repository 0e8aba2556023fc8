"""CFE, SFE and CSFE against numpy transcriptions of the KFDE paper's eqs. (1)-(9)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pathfocus.errors import InputError
from pathfocus.models.layers.cfe import CFE
from pathfocus.models.layers.csfe import CSFE
from pathfocus.models.layers.sfe import SFE


def _sigmoid(v: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-v))


def cfe_reference(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, groups: int, threshold: float,
                  eps: float = 1e-5) -> np.ndarray:
    """Eqs. (1)-(5) written out with loops: GroupNorm by hand, gates, half-split cross-add."""
    n, c, h, w = x.shape
    per = c // groups
    xhat = np.empty_like(x)
    for i in range(n):
        for g in range(groups):
            block = x[i, g * per:(g + 1) * per]
            mean, var = block.mean(), block.var()
            for ch in range(g * per, (g + 1) * per):
                xhat[i, ch] = (x[i, ch] - mean) / np.sqrt(var + eps) * gamma[ch] + beta[ch]
    w_gamma = gamma / gamma.sum()  # eq. (1)
    y = np.empty_like(x)
    x1 = np.empty_like(x)
    x2 = np.empty_like(x)
    for i in range(n):
        for ch in range(c):
            r = _sigmoid(xhat[i, ch] * w_gamma[ch])  # eq. (2)
            w1 = np.where(r > threshold, 1.0, r)  # eq. (3)
            w2 = np.where(r > threshold, 0.0, r)
            x1[i, ch] = w1 * x[i, ch]
            x2[i, ch] = w2 * x[i, ch]
    half = c // 2
    for ch in range(half):  # eqs. (4)-(5)
        y[:, ch] = x1[:, ch] + x2[:, ch + half]
        y[:, ch + half] = x1[:, ch + half] + x2[:, ch]
    return y


def sfe_reference(x: np.ndarray, lam: float, beta: float) -> np.ndarray:
    """Eqs. (6)-(9) channel by channel."""
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        for ch in range(x.shape[1]):
            d = (x[i, ch] - x[i, ch].mean()) ** 2  # eq. (6)
            var = d.sum() / d.size  # eq. (7), n = H*W
            energy = d / (4.0 * (var + lam)) + beta  # eq. (8)
            out[i, ch] = x[i, ch] * _sigmoid(energy)  # eq. (9)
    return out


def _cfe_with_random_affine(channels: int, groups: int, threshold: float, seed: int) -> CFE:
    gen = torch.Generator().manual_seed(seed)
    module = CFE(channels, groups=groups, threshold=threshold).double()
    with torch.no_grad():
        module.norm.weight.copy_(0.5 + torch.rand(channels, generator=gen, dtype=torch.float64))
        module.norm.bias.copy_(torch.randn(channels, generator=gen, dtype=torch.float64))
    return module


@pytest.mark.parametrize(("channels", "groups", "threshold"), [(8, 4, 0.5), (6, 3, 0.55), (4, 1, 0.45)])
def test_cfe_matches_reference(channels: int, groups: int, threshold: float) -> None:
    module = _cfe_with_random_affine(channels, groups, threshold, seed=channels)
    x = torch.randn(2, channels, 5, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 3
    gates = module.gate(x)
    assert (gates > threshold).any() and (gates <= threshold).any(), "test must exercise both gate branches"
    gamma, beta = module.norm.weight.detach().numpy(), module.norm.bias.detach().numpy()
    expected = cfe_reference(x.numpy(), gamma, beta, groups, threshold)
    np.testing.assert_allclose(module(x).detach().numpy(), expected, rtol=1e-10, atol=1e-12)


def test_cfe_hand_example() -> None:
    # Two channels, one group, gamma = (1, 3) -> w_gamma = (1/4, 3/4), beta = 0.
    module = CFE(2, groups=1).double()
    with torch.no_grad():
        module.norm.weight.copy_(torch.tensor([1.0, 3.0]))
        module.norm.bias.zero_()
    x = torch.tensor([[[[1.0, 3.0]], [[-1.0, 5.0]]]], dtype=torch.float64)  # 1x2x1x2, mean 2, var 5
    z = (np.array([[1.0, 3.0], [-1.0, 5.0]]) - 2.0) / np.sqrt(5.0 + 1e-5)
    r = _sigmoid(z * np.array([[1.0], [3.0]]) * np.array([[0.25], [0.75]]))
    # r > 0.5 exactly where z > 0: (ch0, pos1) and (ch1, pos1).
    x1 = np.array([[r[0, 0] * 1.0, 3.0], [r[1, 0] * -1.0, 5.0]])
    x2 = np.array([[r[0, 0] * 1.0, 0.0], [r[1, 0] * -1.0, 0.0]])
    expected = np.stack([x1[0] + x2[1], x1[1] + x2[0]])
    np.testing.assert_allclose(module(x)[0, :, 0].detach().numpy(), expected, rtol=1e-12)


def test_cfe_threshold_extremes() -> None:
    x = torch.randn(2, 8, 3, 3, generator=torch.Generator().manual_seed(2))
    # T below every gate: w1 = 1, w2 = 0, so the cross-add returns x itself.
    torch.testing.assert_close(CFE(8, groups=4, threshold=-1.0)(x), x)
    # T above every gate: w1 = w2 = r, so both halves become r_a*x_a + r_b*x_b.
    module = CFE(8, groups=4, threshold=2.0)
    out = module(x)
    rx = module.gate(x) * x
    torch.testing.assert_close(out[:, :4], out[:, 4:])
    torch.testing.assert_close(out[:, :4], rx[:, :4] + rx[:, 4:])


def test_cfe_group_fallback_and_bad_channels() -> None:
    assert CFE(320).groups == 16
    assert CFE(24, groups=16).groups == 12
    assert CFE(2, groups=16).groups == 2
    with pytest.raises(InputError, match="even"):
        CFE(7)


def test_sfe_matches_reference() -> None:
    x = torch.randn(2, 3, 4, 5, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    x[1, 2] = 0.7  # a flat channel: variance 0, lambda keeps it finite, weight = sigmoid(beta)
    for lam, beta in [(1e-4, 0.5), (0.1, -0.3)]:
        out = SFE(lam=lam, beta=beta)(x)
        np.testing.assert_allclose(out.numpy(), sfe_reference(x.numpy(), lam, beta), rtol=1e-12)
    np.testing.assert_allclose(SFE()(x)[1, 2].numpy(), 0.7 / (1 + np.exp(-0.5)), rtol=1e-12)
    assert list(SFE().parameters()) == []


def test_csfe_is_sfe_after_cfe() -> None:
    module = CSFE(8, groups=4, threshold=0.5, lam=1e-3, beta=0.2).double()
    with torch.no_grad():
        module.cfe.norm.weight.copy_(torch.linspace(0.5, 2.0, 8, dtype=torch.float64))
        module.cfe.norm.bias.copy_(torch.linspace(-1.0, 1.0, 8, dtype=torch.float64))
    x = torch.randn(2, 8, 3, 4, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    cfe_out = cfe_reference(x.numpy(), module.cfe.norm.weight.detach().numpy(),
                            module.cfe.norm.bias.detach().numpy(), groups=4, threshold=0.5)
    expected = sfe_reference(cfe_out, lam=1e-3, beta=0.2)
    np.testing.assert_allclose(module(x).detach().numpy(), expected, rtol=1e-10, atol=1e-12)
