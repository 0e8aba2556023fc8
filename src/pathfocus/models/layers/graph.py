"""Graph building blocks of SEW: a residual GCN stack and a token transformer over graphs of any size.

SEW (Luo et al., "SEW: Self-calibration Enhanced Whole Slide Pathology Image Analysis", arXiv 2412.10853)
runs GCN layers over a superpixel graph and then a Transformer encoder with a CLS token. Graphs in a
batch have different node counts, so the transformer sees them as padded token sets with a key mask
(:func:`torch_geometric.utils.to_dense_batch`); node order inside a graph is irrelevant to it (no
positional encoding: position is a node feature). Group attention (within a region, then across
regions) is two :class:`CLSTransformer` calls with different groupings.
"""

from __future__ import annotations

import torch
from torch import nn
from torch_geometric.nn import GCNConv
from torch_geometric.utils import to_dense_batch


class GCNStack(nn.Module):
    """Input standardisation and projection, then ``layers`` residual blocks of
    GCNConv -> LayerNorm -> GELU -> dropout.

    Node features mix units (colour, stain optical density, area shares); a BatchNorm over nodes
    standardises them with statistics learned in training and stored with the weights.
    """

    def __init__(self, in_dim: int, hidden: int, layers: int = 2, dropout: float = 0.1) -> None:
        super().__init__()
        self.standardise = nn.BatchNorm1d(in_dim)
        self.project = nn.Linear(in_dim, hidden)
        self.convs = nn.ModuleList(GCNConv(hidden, hidden) for _ in range(layers))
        self.norms = nn.ModuleList(nn.LayerNorm(hidden) for _ in range(layers))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        """Node features ``N x in_dim`` and edges ``2 x E`` -> node features ``N x hidden``."""
        h = self.project(self.standardise(x))
        for conv, norm in zip(self.convs, self.norms, strict=True):
            h = h + self.dropout(nn.functional.gelu(norm(conv(h, edge_index))))
        return h


class CLSTransformer(nn.Module):
    """A learned CLS token prepended to each group of tokens, then a pre-norm Transformer encoder.

    ``forward(tokens, group)`` takes flat tokens ``N x D`` and a sorted group index ``N`` (as PyG's
    ``batch``) and returns the CLS output per group (``G x D``) and the updated tokens (``N x D``, same
    order). Groups are padded to the largest and masked, so each group attends only to itself.
    """

    def __init__(self, dim: int, layers: int = 2, heads: int = 4, dropout: float = 0.1) -> None:
        super().__init__()
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        nn.init.trunc_normal_(self.cls, std=0.02)
        layer = nn.TransformerEncoderLayer(dim, heads, dim_feedforward=2 * dim, dropout=dropout,
                                           batch_first=True, norm_first=True, activation="gelu")
        # NOTE: the nested-tensor fast path is off because padding masks of tiny groups trip it on CPU.
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)

    def forward(self, tokens: torch.Tensor, group: torch.Tensor,
                n_groups: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        dense, mask = to_dense_batch(tokens, group, batch_size=n_groups)
        cls = self.cls.expand(dense.shape[0], -1, -1)
        sequence = torch.cat([cls, dense], dim=1)
        keep = torch.cat([torch.ones_like(mask[:, :1]), mask], dim=1)
        out = self.norm(self.encoder(sequence, src_key_padding_mask=~keep))
        return out[:, 0], out[:, 1:][mask]
