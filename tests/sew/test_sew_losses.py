"""SEW's losses against hand-written formulas, the pseudo-labels, and which terms each ablation keeps."""

from __future__ import annotations

import math

import pytest
import torch

from pathfocus.engines.sew.settings import split_flat_settings
from pathfocus.models.sew_settings import SEWArchitecture
from pathfocus.training.sew.config import SEWTraining
from pathfocus.training.sew.losses import (
    UNKNOWN,
    consistency_loss,
    focus_loss,
    pseudo_labels,
    region_loss,
    sew_loss,
)


def test_consistency_is_one_minus_cosine_towards_the_detached_detail_cls() -> None:
    a = torch.tensor([[1.0, 0.0], [1.0, 1.0]], requires_grad=True)
    b = torch.tensor([[0.0, 2.0], [2.0, 2.0]], requires_grad=True)
    # cos = 0 for the first pair and 1 for the second -> mean(1 - cos) = 0.5
    loss = consistency_loss(a, b)
    assert loss.item() == pytest.approx(0.5)
    loss.backward()
    assert b.grad is None and a.grad is not None  # only the global side moves
    assert consistency_loss(torch.tensor([[3.0, 4.0]]), torch.tensor([[4.0, 3.0]])).item() == pytest.approx(
        1 - 24 / 25
    )


def _bce(logit: float, target: float) -> float:
    p = 1 / (1 + math.exp(-logit))
    return -(target * math.log(p) + (1 - target) * math.log(1 - p))


def test_focus_loss_calibrates_every_window_to_detached_lesion_scores() -> None:
    focus = [torch.tensor([0.5, -1.0], requires_grad=True), torch.tensor([2.0], requires_grad=True)]
    lesion = [torch.tensor([0.9, 0.2], requires_grad=True), torch.tensor([0.7], requires_grad=True)]
    loss = focus_loss(focus, lesion, lesion_free=[False, True])
    # slide 1: BCE against its scores plus the listwise term (scores as a distribution over its windows
    # against the softmax of focus); slide 2 is lesion-free: targets 0 whatever the score, no listwise term
    log_total = math.log(math.exp(0.5) + math.exp(-1.0))
    log_softmax = [0.5 - log_total, -1.0 - log_total]
    listwise = -(0.9 / 1.1 * log_softmax[0] + 0.2 / 1.1 * log_softmax[1])
    expected = ((_bce(0.5, 0.9) + _bce(-1.0, 0.2)) / 2 + listwise + _bce(2.0, 0.0)) / 2
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    loss.backward()
    assert lesion[0].grad is None  # the detail branch is the teacher: no gradient into it
    assert all(f.grad is not None and torch.all(f.grad != 0) for f in focus)


def test_pseudo_labels_top_and_bottom_k() -> None:
    lesion = torch.tensor([0.1, 0.9, 0.5, 0.8, 0.05, 0.3])
    labels = pseudo_labels(lesion, target=1, normal_class=0, k=2)
    assert labels.tolist() == [0, 1, UNKNOWN, 1, 0, UNKNOWN]  # top-2 lesion, bottom-2 normal
    assert pseudo_labels(lesion, target=0, normal_class=0, k=2).tolist() == [0] * 6  # normal slide: all
    graded = pseudo_labels(lesion, target=2, normal_class=0, k=1)
    assert graded.tolist() == [UNKNOWN, 2, UNKNOWN, UNKNOWN, 0, UNKNOWN]
    known = torch.tensor([UNKNOWN, 0, UNKNOWN, UNKNOWN, 1, UNKNOWN])  # annotations win
    assert pseudo_labels(lesion, 1, 0, 2, known).tolist() == [0, 0, UNKNOWN, 1, 1, UNKNOWN]


def test_region_loss_weighs_slides_equally() -> None:
    logits = [torch.tensor([[2.0, 0.0], [0.0, 2.0], [1.0, 1.0]]), torch.tensor([[0.0, 3.0]])]
    labels = [torch.tensor([0, 1, UNKNOWN]), torch.tensor([0])]
    ce = torch.nn.functional.cross_entropy
    expected = (ce(logits[0][:2], labels[0][:2]) + ce(logits[1], labels[1])) / 2
    assert region_loss(logits, labels).item() == pytest.approx(expected.item())


def _inputs() -> dict[str, object]:
    generator = torch.Generator().manual_seed(0)
    return {
        "labels": torch.tensor([0, 2]),
        "global_logits": torch.randn(2, 3, generator=generator),
        "detail_logits": torch.randn(2, 3, generator=generator),
        "global_projection": torch.randn(2, 4, generator=generator),
        "detail_cls": torch.randn(2, 4, generator=generator),
        "region_logits": [torch.randn(4, 3, generator=generator), torch.randn(5, 3, generator=generator)],
        "window_labels": [torch.zeros(4, dtype=torch.long), torch.tensor([2, 0, UNKNOWN, UNKNOWN, UNKNOWN])],
        "window_focus": [torch.randn(4, generator=generator), torch.randn(5, generator=generator)],
        "lesion": [torch.rand(4, generator=generator), torch.rand(5, generator=generator)],
        "all_window_logits": torch.randn(2, 3, generator=generator),
    }


def test_total_loss_is_the_weighted_sum() -> None:
    training = SEWTraining(lambda_cst=0.3, lambda_focus=2.0, lambda_region=0.7, lambda_all_windows=0.4)
    x = _inputs()
    total, parts = sew_loss(SEWArchitecture(num_classes=3), training, **x)
    ce = torch.nn.functional.cross_entropy
    expected = (
        ce(x["global_logits"], x["labels"])
        + ce(x["detail_logits"], x["labels"])
        + 0.4 * ce(x["all_window_logits"], x["labels"])
        + 0.7 * region_loss(x["region_logits"], x["window_labels"])
        + 0.3 * consistency_loss(x["global_projection"], x["detail_cls"])
        + 2.0 * focus_loss(x["window_focus"], x["lesion"], [True, False])
    )
    assert set(parts) == {"ce_global", "ce_detail", "all_windows", "region", "consistency", "focus"}
    assert total.item() == pytest.approx(expected.item(), rel=1e-6)


@pytest.mark.parametrize(
    ("changes", "terms"),
    [
        ({"use_consistency": False}, {"ce_global", "ce_detail", "all_windows", "region", "focus"}),
        ({"use_focus_loss": False}, {"ce_global", "ce_detail", "all_windows", "region", "consistency"}),
        ({"lambda_region": 0.0}, {"ce_global", "ce_detail", "all_windows", "consistency", "focus"}),
        ({"lambda_all_windows": 0.0}, {"ce_global", "ce_detail", "region", "consistency", "focus"}),
        ({"branches": "global"}, {"ce_global"}),
        ({"branches": "detail"}, {"ce_detail", "all_windows", "region", "consistency", "focus"}),
    ],
)
def test_ablations_drop_terms(changes: dict[str, object], terms: set[str]) -> None:
    sections = split_flat_settings({"num_classes": 3, **changes})
    architecture = SEWArchitecture(**sections["architecture"])
    _, parts = sew_loss(architecture, SEWTraining(**sections["training"]), **_inputs())
    assert set(parts) == terms


def test_focus_capture_is_the_best_lesion_score_read_over_the_best_there_is() -> None:
    from pathfocus.training.sew.task import focus_capture

    lesion = torch.tensor([0.1, 0.8, 0.3, 0.4, 0.2])
    assert focus_capture(torch.tensor([1, 3]), lesion) == 1.0
    assert focus_capture(torch.tensor([3, 0]), lesion) == pytest.approx(0.5)
    assert focus_capture(torch.tensor([0]), lesion) == pytest.approx(0.125)
    assert focus_capture(torch.tensor([2]), torch.zeros(5)) == 1.0  # nothing lesion-like anywhere
