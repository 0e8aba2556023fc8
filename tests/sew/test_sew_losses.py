"""SEW's losses against hand-written formulas, and which terms each ablation keeps."""

from __future__ import annotations

import math

import pytest
import torch

from pathfocus.engines.sew.settings import split_flat_settings
from pathfocus.models.sew_settings import SEWArchitecture
from pathfocus.training.sew.config import SEWTraining
from pathfocus.training.sew.losses import consistency_loss, focus_loss, sew_loss


def test_consistency_is_one_minus_cosine_towards_the_detached_detail_cls() -> None:
    a = torch.tensor([[1.0, 0.0], [1.0, 1.0]], requires_grad=True)
    b = torch.tensor([[0.0, 2.0], [2.0, 2.0]], requires_grad=True)
    # cos = 0 for the first pair and 1 for the second -> mean(1 - cos) = 0.5
    loss = consistency_loss(a, b)
    assert loss.item() == pytest.approx(0.5)
    loss.backward()
    assert b.grad is None and a.grad is not None  # only the global side moves
    c = torch.tensor([[3.0, 4.0]])
    d = torch.tensor([[4.0, 3.0]])
    assert consistency_loss(c, d).item() == pytest.approx(1 - 24 / 25)


def test_focus_loss_is_bce_towards_detached_lesion_scores() -> None:
    focus = torch.tensor([0.5, -1.0], requires_grad=True)
    lesion = torch.tensor([0.9, 0.2], requires_grad=True)
    loss = focus_loss(focus, lesion)
    expected = 0.0
    for f, t in zip([0.5, -1.0], [0.9, 0.2], strict=True):
        p = 1 / (1 + math.exp(-f))
        expected -= t * math.log(p) + (1 - t) * math.log(1 - p)
    assert loss.item() == pytest.approx(expected / 2, rel=1e-5)
    loss.backward()
    assert lesion.grad is None  # the detail branch is the teacher: no gradient into it
    assert focus.grad is not None and torch.all(focus.grad != 0)


def _inputs() -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return {"labels": torch.tensor([0, 2]), "global_logits": torch.randn(2, 3, generator=generator),
            "detail_logits": torch.randn(2, 3, generator=generator),
            "global_projection": torch.randn(2, 4, generator=generator),
            "detail_cls": torch.randn(2, 4, generator=generator),
            "visited_focus": torch.randn(5, generator=generator),
            "visited_lesion": torch.rand(5, generator=generator),
            "region_logits": torch.randn(5, 3, generator=generator),
            "region_slide": torch.tensor([0, 0, 0, 1, 1])}


def test_total_loss_is_the_weighted_sum() -> None:
    training = SEWTraining(lambda_cst=0.3, lambda_focus=2.0, lambda_region=0.7)
    x = _inputs()
    total, parts = sew_loss(SEWArchitecture(num_classes=3), training, **x)
    ce = torch.nn.functional.cross_entropy
    region_labels = torch.tensor([0, 0, 0, 2, 2])  # each region carries its slide's label
    expected = (ce(x["global_logits"], x["labels"]) + ce(x["detail_logits"], x["labels"])
                + 0.7 * ce(x["region_logits"], region_labels)
                + 0.3 * consistency_loss(x["global_projection"], x["detail_cls"])
                + 2.0 * focus_loss(x["visited_focus"], x["visited_lesion"]))
    assert set(parts) == {"ce_global", "ce_detail", "ce_region", "consistency", "focus"}
    assert total.item() == pytest.approx(expected.item(), rel=1e-6)


@pytest.mark.parametrize(("changes", "terms"), [
    ({"use_consistency": False}, {"ce_global", "ce_detail", "ce_region", "focus"}),
    ({"use_focus_loss": False}, {"ce_global", "ce_detail", "ce_region", "consistency"}),
    ({"lambda_region": 0.0}, {"ce_global", "ce_detail", "consistency", "focus"}),
    ({"branches": "global"}, {"ce_global"}),
    ({"branches": "detail"}, {"ce_detail", "ce_region", "consistency", "focus"}),
])
def test_ablations_drop_terms(changes: dict[str, object], terms: set[str]) -> None:
    sections = split_flat_settings({"num_classes": 3, **changes})
    architecture = SEWArchitecture(**sections["architecture"])
    _, parts = sew_loss(architecture, SEWTraining(**sections["training"]), **_inputs())
    assert set(parts) == terms
