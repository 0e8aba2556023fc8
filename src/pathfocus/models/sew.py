"""SEW: a global branch on the thumbnail graph, a focus predictor, a detail branch on focused windows.

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
from torch_geometric.nn import InstanceNorm

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
    regions: torch.Tensor  # W x H window embeddings (after attention across the slide's windows)
    region_logits: torch.Tensor  # W x C: each window classified on its own
    lesion: torch.Tensor  # W lesion scores in [0, 1]: 1 - P(window is of the normal class)
    attention: torch.Tensor  # W pooling weights (sum to one per slide)


class GlobalBranch(nn.Module):
    """Thumbnail superpixel graph -> GCN -> Transformer with CLS -> logits (+ CLS, node features).

    With ``slide_relative`` every node also sees its features standardised over its own slide's nodes
    (PyG's per-graph ``InstanceNorm``): stain and scanner shift colour between slides, and "darker than
    this slide's tissue" generalises from a few dozen training slides where absolute colour does not.
    """

    def __init__(
        self,
        in_dim: int,
        hidden: int,
        num_classes: int,
        gcn_layers: int = 2,
        transformer_layers: int = 2,
        heads: int = 4,
        dropout: float = 0.1,
        slide_relative: bool = True,
    ) -> None:
        super().__init__()
        self.relative = InstanceNorm(in_dim) if slide_relative else None
        self.gcn = GCNStack(2 * in_dim if slide_relative else in_dim, hidden, gcn_layers, dropout)
        self.transformer = CLSTransformer(hidden, transformer_layers, heads, dropout)
        self.head = nn.Linear(hidden, num_classes)

    def forward(
        self, x: torch.Tensor, edge_index: torch.Tensor, batch: torch.Tensor, n_graphs: int
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if self.relative is not None:
            x = torch.cat([x, self.relative(x, batch, n_graphs)], dim=1)
        cls, nodes = self.transformer(self.gcn(x, edge_index), batch, n_graphs)
        return self.head(cls), cls, nodes


class FocusPredictor(nn.Module):
    """MLP on the global branch's last-layer node features -> one focus logit per node."""

    def __init__(self, hidden: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Linear(hidden, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, 1)
        )

    def forward(self, nodes: torch.Tensor) -> torch.Tensor:
        return self.mlp(nodes).squeeze(-1)


class DetailBranch(nn.Module):
    """Encoded tiles of the windows read -> one token per window (attention within the window) -> a lesion
    score per window; the windows of a slide -> attention across windows + gated pooling -> slide logits.

    A window's region logits depend on that window alone, so any window can be scored on its own (the
    focus predictor is calibrated against these scores). The slide logits come from the across-window CLS
    plus a gated-attention pool of the window tokens (attention-MIL).
    """

    def __init__(
        self,
        in_dim: int,
        hidden: int,
        num_classes: int,
        window_layers: int = 1,
        cross_layers: int = 1,
        heads: int = 4,
        dropout: float = 0.1,
        normal_class: int = 0,
    ) -> None:
        super().__init__()
        self.normal_class = normal_class
        self.project = nn.Sequential(
            nn.LayerNorm(in_dim), nn.Linear(in_dim, hidden), nn.GELU(), nn.Dropout(dropout)
        )
        self.within = CLSTransformer(hidden, window_layers, heads, dropout)
        self.region_head = nn.Linear(hidden, num_classes)
        self.across = CLSTransformer(hidden, cross_layers, heads, dropout)
        self.gate_v = nn.Linear(hidden, hidden)
        self.gate_u = nn.Linear(hidden, hidden)
        self.gate_w = nn.Linear(hidden, 1)
        self.norm = nn.LayerNorm(hidden)
        self.head = nn.Linear(hidden, num_classes)

    def windows(self, tiles: torch.Tensor, tile_window: torch.Tensor, n_windows: int) -> torch.Tensor:
        """Tile features (T x D) grouped by ``tile_window`` (sorted) -> window tokens (W x hidden)."""
        tokens, _ = self.within(self.project(tiles), tile_window, n_windows)
        return tokens

    def score(self, window_tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Region logits (W x C) and lesion scores (W): 1 - P(normal class) of each window on its own."""
        logits = self.region_head(window_tokens)
        return logits, 1.0 - torch.softmax(logits, dim=-1)[:, self.normal_class]

    def forward(self, window_tokens: torch.Tensor, window_slide: torch.Tensor, n_slides: int) -> DetailOutput:
        """Window tokens (W x hidden) grouped by ``window_slide`` (sorted) -> slide logits and the rest."""
        cls, regions = self.across(window_tokens, window_slide, n_slides)
        gated = torch.tanh(self.gate_v(regions)) * torch.sigmoid(self.gate_u(regions))
        weights = _segment_softmax(self.gate_w(gated).squeeze(-1), window_slide, n_slides)
        pooled = torch.zeros_like(cls).index_add_(0, window_slide, weights[:, None] * regions)
        region_logits, lesion = self.score(window_tokens)
        return DetailOutput(self.head(self.norm(cls + pooled)), cls, regions, region_logits, lesion, weights)


class SEWModel(nn.Module):
    """The three SEW components, the projection of the global CLS into the detail CLS space, the frozen
    tile encoder the detail branch reads through, and the weight of the global branch in the fused
    prediction (``global_weight``, chosen on validation slides after training)."""

    def __init__(self, architecture: SEWArchitecture, encoder: nn.Module | None = None) -> None:
        super().__init__()
        self.architecture = architecture
        c = architecture
        self.global_branch = GlobalBranch(
            c.global_features,
            c.hidden,
            c.num_classes,
            c.gcn_layers,
            c.transformer_layers,
            c.heads,
            c.dropout,
            c.slide_relative,
        )
        self.focus = FocusPredictor(c.hidden, c.dropout)
        self.detail_branch = DetailBranch(
            c.tile_features,
            c.detail_hidden,
            c.num_classes,
            c.window_layers,
            c.cross_layers,
            c.heads,
            c.dropout,
            c.normal_class,
        )
        self.project_global = nn.Sequential(
            nn.Linear(c.hidden, c.hidden), nn.GELU(), nn.Linear(c.hidden, c.detail_hidden)
        )
        self.encoder = encoder
        default = {"global": 1.0, "detail": 0.0}.get(c.branches, 0.5)
        self.register_buffer("global_weight", torch.tensor(default))

    def forward_global(
        self, x: torch.Tensor, edge_index: torch.Tensor, batch: torch.Tensor, n_graphs: int
    ) -> GlobalOutput:
        logits, cls, nodes = self.global_branch(x, edge_index, batch, n_graphs)
        return GlobalOutput(logits, cls, nodes, self.focus(nodes))

    def fuse(self, global_logits: torch.Tensor | None, detail_logits: torch.Tensor | None) -> torch.Tensor:
        """Slide logits: ``global_weight`` x global + (1 - it) x detail (one branch alone for ablations)."""
        arch = self.architecture
        if not arch.uses_detail:
            return _need(global_logits, arch.branches)
        if not arch.uses_global:
            return _need(detail_logits, arch.branches)
        weight = self.global_weight
        return weight * _need(global_logits, arch.branches) + (1 - weight) * _need(
            detail_logits, arch.branches
        )


def _need(logits: torch.Tensor | None, branches: str) -> torch.Tensor:
    if logits is None:
        msg = f"branches={branches!r} needs both the global and the detail logits here"
        raise InputError(msg)
    return logits


def _segment_softmax(scores: torch.Tensor, segment: torch.Tensor, n_segments: int) -> torch.Tensor:
    """Softmax of ``scores`` within each segment (regions of one slide)."""
    top = torch.full((n_segments,), float("-inf"), dtype=scores.dtype, device=scores.device)
    top = top.scatter_reduce(0, segment, scores.detach(), reduce="amax", include_self=True)
    exp = torch.exp(scores - top[segment])
    total = torch.zeros(n_segments, dtype=scores.dtype, device=scores.device).index_add_(0, segment, exp)
    return exp / total[segment]
