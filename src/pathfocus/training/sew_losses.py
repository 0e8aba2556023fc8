"""SEW's training objective: cross-entropy on both branches, feature consistency, self-calibrated focus.

L = CE(global) + CE(detail) + lambda_cst * (1 - cos(P_g(cls_g), P_d(cls_d))) + lambda_focus * focus loss,
where the focus loss is the binary cross-entropy between a visited node's focus score and the detail
branch's lesion score for that node's region, the target detached: the detail branch, which saw the
region magnified, calibrates where the global branch looks, not the other way round. Ablation switches
and ``branches`` of :class:`~pathfocus.models.sew.SEWConfig` drop terms.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from pathfocus.models.sew import SEWConfig


def consistency_loss(global_projection: torch.Tensor, detail_projection: torch.Tensor) -> torch.Tensor:
    """Mean of 1 - cosine similarity between the projected global and detail CLS tokens (B x P each)."""
    return (1.0 - F.cosine_similarity(global_projection, detail_projection, dim=-1)).mean()


def focus_loss(focus_logits: torch.Tensor, lesion_logits: torch.Tensor) -> torch.Tensor:
    """BCE of the visited nodes' focus scores against their regions' lesion scores (as soft targets).

    Both arguments are logits of the same regions, in the same order; the target gets no gradient.
    """
    target = torch.sigmoid(lesion_logits.detach())
    return F.binary_cross_entropy_with_logits(focus_logits, target)


def sew_loss(config: SEWConfig, labels: torch.Tensor, global_logits: torch.Tensor | None,
             detail_logits: torch.Tensor | None = None, global_projection: torch.Tensor | None = None,
             detail_projection: torch.Tensor | None = None, visited_focus: torch.Tensor | None = None,
             visited_lesion: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The total loss and its parts (``ce_global``, ``ce_detail``, ``consistency``, ``focus``).

    A term is included when its branch is in use and its switch is on; its inputs must then be given.
    """
    parts: dict[str, torch.Tensor] = {}
    if config.branches != "detail":
        parts["ce_global"] = F.cross_entropy(_need(global_logits, "global_logits"), labels)
    if config.uses_detail:
        parts["ce_detail"] = F.cross_entropy(_need(detail_logits, "detail_logits"), labels)
        if config.use_consistency and config.lambda_cst > 0:
            parts["consistency"] = config.lambda_cst * consistency_loss(
                _need(global_projection, "global_projection"), _need(detail_projection, "detail_projection"))
        if config.use_focus_loss and config.lambda_focus > 0:
            parts["focus"] = config.lambda_focus * focus_loss(
                _need(visited_focus, "visited_focus"), _need(visited_lesion, "visited_lesion"))
    total = torch.stack(list(parts.values())).sum()
    return total, parts


def _need(value: torch.Tensor | None, name: str) -> torch.Tensor:
    if value is None:
        msg = f"{name} is required by this SEW configuration"
        raise ValueError(msg)
    return value
