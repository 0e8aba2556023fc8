"""SEW's training objective, slide labels only (annotations optional).

L = CE(global) + CE(detail) + lambda_all_windows * CE(detail over every window)
    + lambda_region * window pseudo-label CE
    + lambda_cst * (1 - cos(P(cls_global), sg(cls_detail))) + lambda_focus * focus calibration.

* Window pseudo-labels (attention-MIL practice, the SEW authors' top-K/bottom-K): every window of a
  lesion-free slide is normal; in any other slide the K windows ranked highest (by window novelty, or
  by the detail branch's attention when it sees every window) take the slide's label and the K ranked
  lowest are normal. Annotated
  windows use their true label instead. Each slide weighs the same, however many windows it has.
* Focus calibration (self-calibration): BCE between every candidate window's focus logit and the detail
  branch's lesion score of that window, detached, and 0 on lesion-free slides, plus a listwise term on
  slides with lesion; the focus predictor thus learns, from the thumbnail alone, where the detail branch
  would find lesion.
* Consistency: the global CLS, projected by P into the detail space, is pulled toward the detail CLS,
  which gets no gradient from this term (projecting both lets both collapse onto one vector).

The switches of :class:`~pathfocus.training.sew.config.SEWTraining` and the architecture's ``branches``
drop terms (ablations).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from pathfocus.errors import InputError
from pathfocus.models.sew_settings import SEWArchitecture
from pathfocus.training.sew.config import SEWTraining

UNKNOWN = -1


def consistency_loss(global_projection: torch.Tensor, detail_cls: torch.Tensor) -> torch.Tensor:
    """Mean of 1 - cosine similarity between projected global CLS and the detached detail CLS (B x H)."""
    return (1.0 - F.cosine_similarity(global_projection, detail_cls.detach(), dim=-1)).mean()


def pseudo_labels(
    lesion: torch.Tensor, target: int, normal_class: int, k: int, known: torch.Tensor | None = None
) -> torch.Tensor:
    """Window labels of one slide: normal everywhere on a normal slide; else the ``k`` highest ``lesion``
    windows take ``target`` and the ``k`` lowest are normal (the rest ``UNKNOWN``). Known labels win."""
    labels = torch.full(lesion.shape, UNKNOWN, dtype=torch.long, device=lesion.device)
    if target == normal_class:
        labels[:] = normal_class
    else:
        k = min(k, len(lesion) // 2) if len(lesion) > 1 else 1
        order = torch.argsort(lesion.detach(), descending=True)
        labels[order[:k]] = target
        if len(lesion) > 1:
            labels[order[-k:]] = normal_class
    if known is not None:
        labels = torch.where(known != UNKNOWN, known.to(labels.device), labels)
    return labels


def region_loss(region_logits: list[torch.Tensor], labels: list[torch.Tensor]) -> torch.Tensor:
    """Mean over slides of the mean cross-entropy over each slide's labelled windows."""
    losses = [
        F.cross_entropy(logits[mask], label[mask])
        for logits, label in zip(region_logits, labels, strict=True)
        if (mask := label != UNKNOWN).any()
    ]
    return torch.stack(losses).mean()


def focus_loss(
    window_focus: list[torch.Tensor], lesion: list[torch.Tensor], lesion_free: list[bool]
) -> torch.Tensor:
    """Mean over slides of the BCE of every window's focus logit against its detached lesion score, plus
    (slides with lesion) the cross-entropy of the softmax of focus over the slide's windows against the
    lesion scores normalised to sum to one.

    The BCE calibrates (focus reads as P(lesion)); the listwise term ranks: where look-alikes cannot be
    told from the lesion on the thumbnail, BCE targets barely differ between a look-alike and plain tissue,
    whereas the listwise term moves the mass onto every focus that may be the lesion.
    """
    losses = []
    for logits, score, free in zip(window_focus, lesion, lesion_free, strict=True):
        target = torch.zeros_like(score) if free else score.detach().clamp(0.0, 1.0)
        loss = F.binary_cross_entropy_with_logits(logits, target)
        if not free and target.sum() > 0:
            loss = loss - (target / target.sum() * F.log_softmax(logits, dim=0)).sum()
        losses.append(loss)
    return torch.stack(losses).mean()


def sew_loss(
    architecture: SEWArchitecture,
    training: SEWTraining,
    labels: torch.Tensor,
    global_logits: torch.Tensor | None,
    detail_logits: torch.Tensor | None = None,
    global_projection: torch.Tensor | None = None,
    detail_cls: torch.Tensor | None = None,
    region_logits: list[torch.Tensor] | None = None,
    window_labels: list[torch.Tensor] | None = None,
    window_focus: list[torch.Tensor] | None = None,
    lesion: list[torch.Tensor] | None = None,
    all_window_logits: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The total loss and its weighted parts (``ce_global``, ``ce_detail``, ``all_windows``, ``region``,
    ``consistency``, ``focus``). A term is included when its branch is in use and its switch is on; its
    inputs must then be given. Per-slide lists hold every candidate window of that slide."""
    parts: dict[str, torch.Tensor] = {}
    if architecture.uses_global:
        parts["ce_global"] = F.cross_entropy(_need(global_logits, "global_logits"), labels)
    if architecture.uses_detail:
        parts["ce_detail"] = F.cross_entropy(_need(detail_logits, "detail_logits"), labels)
        if training.lambda_all_windows > 0:
            parts["all_windows"] = training.lambda_all_windows * F.cross_entropy(
                _need(all_window_logits, "all_window_logits"), labels
            )
        if training.lambda_region > 0:
            parts["region"] = training.lambda_region * region_loss(
                _need(region_logits, "region_logits"), _need(window_labels, "window_labels")
            )
        if training.use_consistency and training.lambda_cst > 0:
            parts["consistency"] = training.lambda_cst * consistency_loss(
                _need(global_projection, "global_projection"), _need(detail_cls, "detail_cls")
            )
        if training.use_focus_loss and training.lambda_focus > 0:
            free = [int(label) == architecture.normal_class for label in labels]
            parts["focus"] = training.lambda_focus * focus_loss(
                _need(window_focus, "window_focus"), _need(lesion, "lesion"), free
            )
    total = torch.stack(list(parts.values())).sum()
    return total, parts


def _need(value, name: str):  # type: ignore[no-untyped-def]
    if value is None:
        msg = f"{name} is required by this SEW configuration"
        raise InputError(msg)
    return value
