"""Gated-attention MIL against its formula (Ilse et al. 2018, eq. 9) and the frozen encoder."""

from __future__ import annotations

import pytest
import torch

from pathfocus.errors import InputError
from pathfocus.models.mil import ExhaustiveMIL, GatedAttentionMIL, GatedAttentionPool
from pathfocus.models.tile_encoder import TileEncoder


def test_gated_attention_matches_hand_formula() -> None:
    torch.manual_seed(0)
    pool = GatedAttentionPool(in_dim=6, attention_dim=4)
    h = torch.randn(9, 6)
    V, bv = pool.attention_v.weight, pool.attention_v.bias
    U, bu = pool.attention_u.weight, pool.attention_u.bias
    w, bw = pool.attention_w.weight, pool.attention_w.bias
    with torch.no_grad():
        scores = [float(w @ (torch.tanh(V @ hi + bv) * torch.sigmoid(U @ hi + bu)) + bw) for hi in h]
        exp = torch.exp(torch.tensor(scores) - max(scores))
        expected_a = exp / exp.sum()
        embedding, attention = pool(h)

    torch.testing.assert_close(attention, expected_a, rtol=1e-5, atol=1e-6)
    assert float(attention.sum()) == pytest.approx(1.0, abs=1e-6)
    expected_z = sum(float(a) * hi for a, hi in zip(expected_a, h, strict=True))
    torch.testing.assert_close(embedding, expected_z, rtol=1e-5, atol=1e-6)


def test_mil_head_is_permutation_invariant_and_classifies_the_pooled_embedding() -> None:
    torch.manual_seed(1)
    head = GatedAttentionMIL(in_dim=10, num_classes=3, hidden_dim=8, attention_dim=5).eval()
    bag = torch.randn(13, 10)
    order = torch.randperm(13)
    logits, attention = head(bag)
    shuffled_logits, shuffled_attention = head(bag[order])
    assert logits.shape == (3,) and attention.shape == (13,)
    torch.testing.assert_close(shuffled_logits, logits, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(shuffled_attention, attention[order], rtol=1e-5, atol=1e-6)
    projected = head.project(bag)
    torch.testing.assert_close(logits, head.classifier((attention[:, None] * projected).sum(0)))
    torch.testing.assert_close(head(bag[None]).logits, logits)  # a batch of one bag is accepted


def test_empty_bag_is_refused() -> None:
    with pytest.raises(ValueError, match="non-empty"):
        GatedAttentionPool(4)(torch.zeros(0, 4))


def test_frozen_encoder_has_no_trainable_weights_and_stays_in_eval_mode() -> None:
    torch.manual_seed(0)
    encoder = TileEncoder("convnextv2_atto", input_size=32)
    model = ExhaustiveMIL(encoder, GatedAttentionMIL(encoder.num_features, 2, hidden_dim=8, attention_dim=4))
    model.train()
    assert not encoder.backbone.training
    assert all(not p.requires_grad for p in encoder.parameters())
    tiles = torch.rand(3, 3, 64, 64)  # resized to 32 inside
    features = encoder(tiles)
    assert features.shape == (3, encoder.num_features) and torch.isfinite(features).all()
    torch.testing.assert_close(features[1:2], encoder(tiles[1:2]), rtol=1e-4, atol=1e-5)
    with torch.no_grad():
        logits, attention = model(tiles)
    assert logits.shape == (2,) and float(attention.sum()) == pytest.approx(1.0, abs=1e-6)


def test_unknown_encoder_name_is_an_input_error() -> None:
    with pytest.raises(InputError, match="not_a_timm_model"):
        TileEncoder("not_a_timm_model")
