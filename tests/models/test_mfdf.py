"""MFDF against a numpy transcription of the KFDE paper's eqs. (10)-(14)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pathfocus.errors import InputError
from pathfocus.models.layers.mfdf import MFDF


def _attention_reference(branch_outputs: list[np.ndarray], w1: np.ndarray, b1: np.ndarray, w2: np.ndarray,
                         b2: np.ndarray) -> np.ndarray:
    """alpha (N x K x C) from the branch outputs and the fc weights, eqs. (10)-(13)."""
    k, c = len(branch_outputs), branch_outputs[0].shape[1]
    u = sum(branch_outputs)  # eq. (10)
    p = u.mean(axis=(2, 3))  # eq. (11)
    hidden = np.maximum(p @ w1.T + b1, 0.0)  # eq. (12)
    logits = (hidden @ w2.T + b2).reshape(-1, k, c)  # fc2_k for k = 1..K
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)  # eq. (13), softmax over branches


def test_mfdf_matches_reference() -> None:
    torch.manual_seed(0)
    module = MFDF(12, kernel_sizes=(3, 5, 7), reduction=4, min_dim=5).double().eval()
    for param in module.parameters():  # spread the attention away from uniform
        torch.nn.init.normal_(param, std=0.5)
    x = torch.randn(2, 12, 6, 5, dtype=torch.float64)
    out = module(x).detach().numpy()
    alpha = module.last_attention
    assert alpha is not None and alpha.shape == (2, 3, 12) and not alpha.requires_grad
    np.testing.assert_allclose(alpha.sum(dim=1).numpy(), 1.0, rtol=1e-12)
    assert alpha.std() > 0.05

    branch_outputs = [branch(x).detach().numpy() for branch in module.branches]
    fc1, fc2 = module.fc1[0], module.fc2
    weights = [t.detach().numpy() for t in (fc1.weight, fc1.bias, fc2.weight, fc2.bias)]
    expected_alpha = _attention_reference(branch_outputs, *weights)
    np.testing.assert_allclose(alpha.numpy(), expected_alpha, rtol=1e-10)
    expected = np.zeros_like(out)  # eq. (14), channel by channel
    for k, xk in enumerate(branch_outputs):
        for ch in range(12):
            expected[:, ch] += expected_alpha[:, k, ch, None, None] * xk[:, ch]
    np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kernel_size", [3, 5, 7])
def test_branch_receptive_field_matches_kernel(kernel_size: int) -> None:
    module = MFDF(4, kernel_sizes=(kernel_size,)).eval()  # eval BN with fresh stats keeps zeros at zero
    for layer in module.branches[0]:
        if isinstance(layer, torch.nn.Conv2d):
            torch.nn.init.uniform_(layer.weight, 0.1, 1.0)
    x = torch.zeros(1, 4, 11, 11)
    x[0, :, 5, 5] = 1.0
    rows, cols = module.branches[0](x)[0].abs().sum(dim=0).nonzero(as_tuple=True)
    half = kernel_size // 2
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (5 - half, 5 + half, 5 - half, 5 + half)


def test_mfdf_shapes_dims_and_gradients() -> None:
    assert MFDF(320).dim == 32 and MFDF(1024).dim == 64 and MFDF(1024, min_dim=8, reduction=32).dim == 32
    module = MFDF(16, kernel_sizes=(1, 3))
    x = torch.randn(3, 16, 4, 4, requires_grad=True)
    out = module(x)
    assert out.shape == x.shape and module.last_attention.shape == (3, 2, 16)
    out.square().mean().backward()
    assert x.grad is not None and module.fc2.weight.grad.abs().sum() > 0
    with pytest.raises(InputError, match="odd"):
        MFDF(16, kernel_sizes=(3, 4))
    with pytest.raises(InputError, match="odd"):
        MFDF(16, kernel_sizes=())
