"""SEW's training objective: cross-entropy on both branches, feature consistency, self-calibrated focus.

L = CE(global) + CE(detail) + lambda_region * CE(regions)
    + lambda_cst * (1 - cos(P(cls_global), sg(cls_detail))) + lambda_focus * focus loss.

* Consistency: the global CLS, projected by P into the detail branch's feature space, is pulled toward
  the detail CLS, which gets no gradient from this term (sg = stop-gradient). Projecting both sides
  with learned heads lets both collapse onto one constant vector (the loss then reaches zero and
  teaches nothing, as we measured); anchoring on the detail branch, which saw the regions magnified,
  makes the global branch carry the discriminative features the abstract asks for.
* Focus (self-calibration): binary cross-entropy between each visited node's focus score and the
  detail branch's lesion score for that node's region, the target detached.
* Region CE (our addition, ``lambda_region``): each visited region is classified with its slide's
  label, which is what gives lesion scores their meaning when only slide labels exist.

The switches of :class:`~pathfocus.training.sew.config.SEWTraining` and the architecture's ``branches``
drop terms (ablations).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from pathfocus.errors import InputError
from pathfocus.models.sew import SEWArchitecture
from pathfocus.training.sew.config import SEWTraining


def consistency_loss(global_projection: torch.Tensor, detail_cls: torch.Tensor) -> torch.Tensor:
    """Mean of 1 - cosine similarity between projected global CLS and the detached detail CLS (B x H)."""
    return (1.0 - F.cosine_similarity(global_projection, detail_cls.detach(), dim=-1)).mean()


def focus_loss(focus_logits: torch.Tensor, lesion_scores: torch.Tensor) -> torch.Tensor:
    """BCE of the visited nodes' focus logits against their regions' lesion scores in [0, 1] (detached)."""
    return F.binary_cross_entropy_with_logits(focus_logits, lesion_scores.detach().clamp(0.0, 1.0))


def sew_loss(architecture: SEWArchitecture, training: SEWTraining, labels: torch.Tensor,
             global_logits: torch.Tensor | None,
             detail_logits: torch.Tensor | None = None, global_projection: torch.Tensor | None = None,
             detail_cls: torch.Tensor | None = None, visited_focus: torch.Tensor | None = None,
             visited_lesion: torch.Tensor | None = None, region_logits: torch.Tensor | None = None,
             region_slide: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The total loss and its weighted parts (``ce_global``, ``ce_detail``, ``ce_region``, ``consistency``,
    ``focus``). A term is included when its branch is in use and its switch is on; its inputs must then
    be given. ``region_slide`` maps each region to its slide (row of ``labels``).
    """
    parts: dict[str, torch.Tensor] = {}
    if architecture.uses_global:
        parts["ce_global"] = F.cross_entropy(_need(global_logits, "global_logits"), labels)
    if architecture.uses_detail:
        parts["ce_detail"] = F.cross_entropy(_need(detail_logits, "detail_logits"), labels)
        if training.lambda_region > 0:
            region_labels = labels[_need(region_slide, "region_slide")]
            parts["ce_region"] = training.lambda_region * F.cross_entropy(
                _need(region_logits, "region_logits"), region_labels)
        if training.use_consistency and training.lambda_cst > 0:
            parts["consistency"] = training.lambda_cst * consistency_loss(
                _need(global_projection, "global_projection"), _need(detail_cls, "detail_cls"))
        if training.use_focus_loss and training.lambda_focus > 0:
            parts["focus"] = training.lambda_focus * focus_loss(
                _need(visited_focus, "visited_focus"), _need(visited_lesion, "visited_lesion"))
    total = torch.stack(list(parts.values())).sum()
    return total, parts


def _need(value: torch.Tensor | None, name: str) -> torch.Tensor:
    if value is None:
        msg = f"{name} is required by this SEW configuration"
        raise InputError(msg)
    return value
