"""SEW: a global branch on the thumbnail graph, a focus predictor, a detail branch on focused regions.

Luo et al., "SEW: Self-calibration Enhanced Whole Slide Pathology Image Analysis", arXiv 2412.10853.
Only the abstract is available to us; where it is silent the choices are ours and live in
:class:`SEWConfig` (DESIGN.md section 4). Pure ``nn.Module`` s: reading slides, building graphs and the
training losses live in ``pathfocus.inference.sew_graphs`` and ``pathfocus.training``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, NamedTuple

import torch
from torch import nn

from pathfocus.errors import InputError
from pathfocus.models.layers.graph import CLSTransformer, GCNStack

BRANCHES = ("both", "global", "detail")


@dataclass
class SEWConfig:
    """Every open choice of SEW (resolutions in microns per pixel, windows in pixels at ``detail_mpp``)."""

    num_classes: int = 2
    global_features: int = 9  # node feature widths, set from the graphs actually built
    detail_features: int = 16
    thumbnail_mpp: float = 8.0
    n_superpixels: int = 192
    superpixel_compactness: float = 10.0
    k: int = 8
    detail_mpp: float = 0.5
    detail_window: int = 512
    detail_superpixels: int = 48
    detail_slic_side: int = 64  # SLIC runs on the window downscaled to at most this side (cost driver)
    detail_feature_stride: int = 2  # window statistics on every 2nd row and column (4x fewer pixels)
    detail_embedding: str | None = None  # "timm:<name>" or "kfde:<run dir>": CNN features per superpixel
    hidden: int = 64
    gcn_layers: int = 2
    transformer_layers: int = 2
    heads: int = 4
    detail_hidden: int = 64
    detail_gcn_layers: int = 2
    region_layers: int = 1
    cross_layers: int = 1
    dropout: float = 0.2
    lambda_cst: float = 0.5
    lambda_focus: float = 1.0
    lambda_region: float = 1.0  # CE of each visited region against its slide's label (0: off)
    normal_class: int = 0  # lesion score of a region = 1 - its probability of this (lesion-free) class
    use_consistency: bool = True
    use_focus_loss: bool = True
    branches: str = "both"
    explore: float = 0.25  # share of the k training regions drawn at random among tissue nodes
    train_pool: int = 16  # training picks regions among this many fixed random nodes per slide (0: all)
    min_region_gap: float = 0.5  # regions' centres at least this many windows apart (0: no suppression)

    def __post_init__(self) -> None:
        if self.branches not in BRANCHES:
            msg = f"branches must be one of {', '.join(BRANCHES)}, got {self.branches!r}"
            raise InputError(msg)
        positive = {"num_classes": self.num_classes - 1, "k": self.k, "thumbnail_mpp": self.thumbnail_mpp,
                    "detail_mpp": self.detail_mpp, "detail_window": self.detail_window,
                    "n_superpixels": self.n_superpixels, "detail_superpixels": self.detail_superpixels,
                    "detail_feature_stride": self.detail_feature_stride}
        bad = [name for name, value in positive.items() if value <= 0]
        if bad:
            msg = f"SEW config values must be positive (num_classes >= 2): check {', '.join(bad)}"
            raise InputError(msg)
        if self.hidden % self.heads or self.detail_hidden % self.heads:
            msg = f"hidden sizes ({self.hidden}, {self.detail_hidden}) must divide by heads={self.heads}"
            raise InputError(msg)
        if not 0 <= self.normal_class < self.num_classes:
            msg = f"normal_class={self.normal_class} must be a class index below {self.num_classes}"
            raise InputError(msg)
        if not 0.0 <= self.explore < 1.0:
            msg = f"explore must lie in [0, 1), got {self.explore}"
            raise InputError(msg)

    @property
    def detail_window_base(self) -> float:
        """Side of a detail window in level-0 microns (pixels at ``detail_mpp`` times ``detail_mpp``)."""
        return self.detail_window * self.detail_mpp

    @property
    def uses_detail(self) -> bool:
        return self.branches != "global"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> SEWConfig:
        """Build from a dict (e.g. ``config.json``), refusing unknown keys by name."""
        known = {field.name for field in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            msg = f"unknown SEW config key(s) {unknown}; known keys are {sorted(known)}"
            raise InputError(msg)
        return cls(**values)


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

    def __init__(self, config: SEWConfig) -> None:
        super().__init__()
        self.config = config
        c = config
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
        parts = [logits for logits, used in ((global_logits, self.config.branches != "detail"),
                                             (detail_logits, self.config.uses_detail)) if used]
        if any(part is None for part in parts) or not parts:
            msg = f"branches={self.config.branches!r} needs both the global and the detail logits here"
            raise ValueError(msg)
        return torch.stack(parts).mean(dim=0)


def select_regions(focus: torch.Tensor, positions: torch.Tensor, k: int, min_gap: float = 0.0,
                   explore: float = 0.0, generator: torch.Generator | None = None) -> torch.Tensor:
    """Indices of up to ``k`` nodes of one slide: the highest ``focus`` first, greedily skipping nodes
    closer than ``min_gap`` (in the units of ``positions``, N x 2) to one already chosen; with
    ``explore`` > 0 that share of the k is drawn at random from the nodes not chosen (training only).

    When suppression leaves fewer than k nodes, the next ones by focus fill up, so a slide with at
    least k nodes always yields k regions.
    """
    n = int(focus.shape[0])
    k = min(k, n)
    n_random = int(round(explore * k))
    order = torch.argsort(focus.detach(), descending=True)
    chosen: list[int] = []
    for index in order.tolist():
        if len(chosen) == k - n_random:
            break
        if min_gap > 0 and chosen:
            distance = torch.cdist(positions[index][None].float(), positions[chosen].float()).min()
            if distance < min_gap:
                continue
        chosen.append(index)
    rest = [index for index in order.tolist() if index not in set(chosen)]
    if n_random:
        picks = torch.randperm(len(rest), generator=generator)[:n_random].tolist()
        chosen.extend(rest[i] for i in picks)
        rest = [index for index in rest if index not in set(chosen)]
    chosen.extend(rest[: k - len(chosen)])
    return torch.tensor(chosen, dtype=torch.long)


def _segment_softmax(scores: torch.Tensor, segment: torch.Tensor, n_segments: int) -> torch.Tensor:
    """Softmax of ``scores`` within each segment (regions of one slide)."""
    top = torch.full((n_segments,), float("-inf"), dtype=scores.dtype, device=scores.device)
    top = top.scatter_reduce(0, segment, scores.detach(), reduce="amax", include_self=True)
    exp = torch.exp(scores - top[segment])
    total = torch.zeros(n_segments, dtype=scores.dtype, device=scores.device).index_add_(0, segment, exp)
    return exp / total[segment]
