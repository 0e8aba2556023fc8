"""SEW: a global branch on the thumbnail graph, a focus predictor, a detail branch on focused regions.

Luo et al., "SEW: Self-calibration Enhanced Whole Slide Pathology Image Analysis", arXiv 2412.10853.
Only the abstract is available to us; where it is silent the choices are ours: the
network's in :class:`SEWArchitecture`, how slides are read in ``pathfocus.engines.sew.reading``, how it
learns in ``pathfocus.training.sew.config`` (docs/design.md). Pure ``nn.Module`` s: reading slides and
building graphs live in ``pathfocus.engines.sew``, the losses in ``pathfocus.training.sew``.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from pathfocus.errors import InputError
from pathfocus.models.layers.graph import CLSTransformer, GCNStack
from pathfocus.models.sew_settings import SEWArchitecture


class GlobalOutput(NamedTuple):
    logits: torch.Tensor  # B x C
    cls: torch.Tensor  # B x H
    nodes: torch.Tensor  # N x H (last-layer node features, PyG order)
    focus: torch.Tensor  # N focus logits (sigmoid -> focus score)


class DetailOutput(NamedTuple):
    logits: torch.Tensor  # B x C
    cls: torch.Tensor  # B x H
    regions: torch.Tensor  # R x H region embeddings (after attention across regions)
    region_logits: torch.Tensor  # R x C: each region classified on its own
    lesion: torch.Tensor  # R lesion scores in [0, 1]: 1 - P(region is of the normal class)
    attention: torch.Tensor  # R pooling weights (sum to one per slide)


class GlobalBranch(nn.Module):
    """Thumbnail superpixel graph -> GCN -> Transformer with CLS -> logits (+ CLS, node features)."""

    def __init__(self, in_dim: int, hidden: int, num_classes: int, gcn_layers: int = 2,
                 transformer_layers: int = 2, heads: int = 4, dropout: float = 0.1) -> None:
        super().__init__()
        self.gcn = GCNStack(in_dim, hidden, gcn_layers, dropout)
        self.transformer = CLSTransformer(hidden, transformer_layers, heads, dropout)
        self.head = nn.Linear(hidden, num_classes)

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor, batch: torch.Tensor,
                n_graphs: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        cls, nodes = self.transformer(self.gcn(x, edge_index), batch, n_graphs)
        return self.head(cls), cls, nodes


class FocusPredictor(nn.Module):
    """MLP on the global branch's last-layer node features -> one focus logit per node."""

    def __init__(self, hidden: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(hidden, hidden), nn.GELU(), nn.Dropout(dropout),
                                 nn.Linear(hidden, 1))

    def forward(self, nodes: torch.Tensor) -> torch.Tensor:
        return self.mlp(nodes).squeeze(-1)


class DetailBranch(nn.Module):
    """Region subgraphs -> local GCN -> group attention (within, then across regions) -> local CLS.

    Slide logits come from the local CLS plus a gated-attention pool of the region embeddings
    (attention-MIL). Each region is also classified on its own; its lesion score is one minus its
    probability of the normal class (``normal_class``, the lesion-free label or lowest grade), which
    is what the focus predictor is calibrated against.
    """

    def __init__(self, in_dim: int, hidden: int, num_classes: int, gcn_layers: int = 2,
                 region_layers: int = 1, cross_layers: int = 1, heads: int = 4, dropout: float = 0.1,
                 normal_class: int = 0) -> None:
        super().__init__()
        self.normal_class = normal_class
        self.gcn = GCNStack(in_dim, hidden, gcn_layers, dropout)
        self.within = CLSTransformer(hidden, region_layers, heads, dropout)
        self.across = CLSTransformer(hidden, cross_layers, heads, dropout)
        self.gate_v = nn.Linear(hidden, hidden)
        self.gate_u = nn.Linear(hidden, hidden)
        self.gate_w = nn.Linear(hidden, 1)
        self.norm = nn.LayerNorm(hidden)
        self.head = nn.Linear(hidden, num_classes)
        self.region_head = nn.Linear(hidden, num_classes)

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor, node_region: torch.Tensor,
                region_slide: torch.Tensor, n_slides: int) -> DetailOutput:
        """``node_region`` maps nodes to regions (sorted), ``region_slide`` regions to slides (sorted)."""
        n_regions = int(region_slide.shape[0])
        region_tokens, _ = self.within(self.gcn(x, edge_index), node_region, n_regions)
        cls, regions = self.across(region_tokens, region_slide, n_slides)
        gated = torch.tanh(self.gate_v(regions)) * torch.sigmoid(self.gate_u(regions))
        weights = _segment_softmax(self.gate_w(gated).squeeze(-1), region_slide, n_slides)
        pooled = torch.zeros_like(cls).index_add_(0, region_slide, weights[:, None] * regions)
        region_logits = self.region_head(regions)
        lesion = 1.0 - torch.softmax(region_logits, dim=-1)[:, self.normal_class]
        return DetailOutput(self.head(self.norm(cls + pooled)), cls, regions, region_logits, lesion, weights)


class SEWModel(nn.Module):
    """The three SEW components plus the projection of the global CLS into the detail CLS space."""

    def __init__(self, architecture: SEWArchitecture) -> None:
        super().__init__()
        self.architecture = architecture
        c = architecture
        self.global_branch = GlobalBranch(c.global_features, c.hidden, c.num_classes, c.gcn_layers,
                                          c.transformer_layers, c.heads, c.dropout)
        self.focus = FocusPredictor(c.hidden, c.dropout)
        self.detail_branch = DetailBranch(c.detail_features, c.detail_hidden,
                                          c.num_classes, c.detail_gcn_layers, c.region_layers,
                                          c.cross_layers, c.heads, c.dropout, c.normal_class)
        self.project_global = nn.Sequential(nn.Linear(c.hidden, c.hidden), nn.GELU(),
                                            nn.Linear(c.hidden, c.detail_hidden))

    def forward_global(self, x: torch.Tensor, edge_index: torch.Tensor, batch: torch.Tensor,
                       n_graphs: int) -> GlobalOutput:
        logits, cls, nodes = self.global_branch(x, edge_index, batch, n_graphs)
        return GlobalOutput(logits, cls, nodes, self.focus(nodes))

    def forward_detail(self, x: torch.Tensor, edge_index: torch.Tensor, node_region: torch.Tensor,
                       region_slide: torch.Tensor, n_slides: int) -> DetailOutput:
        return self.detail_branch(x, edge_index, node_region, region_slide, n_slides)

    def fuse(self, global_logits: torch.Tensor | None, detail_logits: torch.Tensor | None) -> torch.Tensor:
        """Slide logits: the mean of the branches in use (``branches`` of the config)."""
        arch = self.architecture
        parts = [logits for logits, used in ((global_logits, arch.uses_global),
                                             (detail_logits, arch.uses_detail)) if used]
        if any(part is None for part in parts) or not parts:
            msg = f"branches={arch.branches!r} needs both the global and the detail logits here"
            raise InputError(msg)
        return torch.stack(parts).mean(dim=0)


def _segment_softmax(scores: torch.Tensor, segment: torch.Tensor, n_segments: int) -> torch.Tensor:
    """Softmax of ``scores`` within each segment (regions of one slide)."""
    top = torch.full((n_segments,), float("-inf"), dtype=scores.dtype, device=scores.device)
    top = top.scatter_reduce(0, segment, scores.detach(), reduce="amax", include_self=True)
    exp = torch.exp(scores - top[segment])
    total = torch.zeros(n_segments, dtype=scores.dtype, device=scores.device).index_add_(0, segment, exp)
    return exp / total[segment]
