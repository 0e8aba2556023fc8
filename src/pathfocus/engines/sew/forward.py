"""One pass of SEW over slides: global branch, focus on every candidate window, the k windows to read,
detail branch, fusion.

Training and analysis both call :func:`sew_forward` and differ only in ``window_tokens``: training takes
the chosen windows' tokens from tile features cached for every window, analysis reads the chosen windows
from the slide and encodes them. Both rank the same candidates (every window of the tile grid with tissue)
by the same focus; training also explores.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch_geometric.data import Batch

from pathfocus.engines.sew.graphs import ThumbnailGraph
from pathfocus.engines.sew.reading import SEWReading
from pathfocus.models.sew import DetailOutput, GlobalOutput, SEWModel
from pathfocus.units import Region

# slide index in the batch, chosen window indices -> their window tokens (len(chosen) x hidden)
WindowTokens = Callable[[int, torch.Tensor], torch.Tensor]


def select_regions(
    focus: torch.Tensor,
    positions: torch.Tensor,
    k: int,
    min_gap: float = 0.0,
    explore: float = 0.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Indices of up to ``k`` windows of one slide: the highest ``focus`` first, greedily skipping windows
    closer than ``min_gap`` (in the units of ``positions``, N x 2) to one already chosen; with
    ``explore`` > 0 that share of the k is drawn at random from the windows not chosen (training only).

    When suppression leaves fewer than k windows, the next ones by focus fill up, so a slide with at
    least k candidate windows always yields k.
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


@dataclass
class SEWForward:
    """One pass of SEW over a batch of slides."""

    global_out: GlobalOutput
    window_focus: list[torch.Tensor]  # per slide: focus logit of every candidate window
    chosen: list[torch.Tensor]  # per slide: indices of the windows read, in region order
    regions: list[list[Region]]  # per slide: the windows read, level-0 boxes with their focus scores
    detail_out: DetailOutput | None
    logits: torch.Tensor  # B x C fused


def window_focus_logits(
    graphs: list[ThumbnailGraph], node_focus: torch.Tensor, offsets: list[int]
) -> list[torch.Tensor]:
    """Each slide's window focus logits: its overlap matrix (windows x nodes) times its node logits."""
    return [
        torch.from_numpy(graph.windows.overlap).to(node_focus) @ node_focus[offsets[i] : offsets[i + 1]]
        for i, graph in enumerate(graphs)
    ]


def sew_forward(
    model: SEWModel,
    reading: SEWReading,
    graphs: list[ThumbnailGraph],
    window_tokens: WindowTokens,
    explore: float = 0.0,
    generator: torch.Generator | None = None,
) -> SEWForward:
    """Global branch -> window focus -> top-k windows (spread ``min_gap_um`` apart) -> their tokens ->
    detail branch -> fused slide logits."""
    device = next(model.parameters()).device
    batch = Batch.from_data_list([graph.to_data() for graph in graphs]).to(device)
    global_out = model.forward_global(batch.x, batch.edge_index, batch.batch, len(graphs))
    focus = window_focus_logits(graphs, global_out.focus, batch.ptr.tolist())
    chosen, regions = [], []
    for graph, window_focus in zip(graphs, focus, strict=True):
        windows = graph.windows
        picked = select_regions(
            window_focus.detach().cpu(),
            torch.from_numpy(windows.centres),
            reading.k,
            reading.min_gap_um / graph.slide_mpp,
            explore,
            generator,
        )
        scores = torch.sigmoid(window_focus.detach()[picked.to(device)]).tolist()
        chosen.append(picked)
        regions.append([windows.region(int(w), s) for w, s in zip(picked.tolist(), scores, strict=True)])
    if not model.architecture.uses_detail:
        return SEWForward(global_out, focus, chosen, regions, None, model.fuse(global_out.logits, None))
    tokens = torch.cat([window_tokens(i, picked) for i, picked in enumerate(chosen)])
    window_slide = torch.repeat_interleave(torch.arange(len(graphs)), torch.tensor([len(c) for c in chosen]))
    detail_out = model.detail_branch(tokens, window_slide.to(device), len(graphs))
    return SEWForward(
        global_out, focus, chosen, regions, detail_out, model.fuse(global_out.logits, detail_out.logits)
    )
