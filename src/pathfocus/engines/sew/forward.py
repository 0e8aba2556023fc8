"""One pass of SEW over slides: global branch, focus, the windows to read, detail branch, fusion.

Training and analysis both call :func:`sew_forward`; they differ only in ``fetch`` (training recalls a
window's subgraph from its cache, analysis reads it from the slide) and in exploration.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass

import torch
from torch_geometric.data import Batch

from pathfocus.engines.sew.graphs import DetailGraph, ThumbnailGraph, region_window
from pathfocus.engines.sew.reading import SEWReading
from pathfocus.models.sew import DetailOutput, GlobalOutput, SEWModel
from pathfocus.units import Region


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


@dataclass
class SEWForward:
    """One pass of SEW over a batch of slides: both branches, the chosen nodes and what was read."""

    global_out: GlobalOutput
    detail_out: DetailOutput | None
    logits: torch.Tensor  # B x C fused
    chosen: list[torch.Tensor]  # per slide: indices of the visited nodes, region order
    details: list[list[DetailGraph]]  # per slide: the regions read (empty for branches="global")
    regions: list[list[Region]]  # per slide: the focus windows with their focus scores
    visited_focus: torch.Tensor | None  # focus logits of the visited nodes, concatenated in region order


def sew_forward(model: SEWModel, reading: SEWReading, graphs: list[ThumbnailGraph],
                fetch: Callable[[int, Region], DetailGraph], explore: float = 0.0,
                generator: torch.Generator | None = None,
                candidates: list[torch.Tensor] | None = None,
                executor: Executor | None = None) -> SEWForward:
    """Global branch -> focus -> top-k windows -> ``fetch(slide index, window)`` -> detail branch -> fusion.

    ``fetch`` reads (or recalls from a cache) a window's subgraph, so training and analysis share the
    same path from focus scores to reads. ``candidates`` (training) limits each slide's choice to a
    fixed pool of nodes, which bounds how many distinct windows a run ever reads. ``executor``
    (analysis) fetches a slide's windows concurrently, in the same order: the same result, sooner.
    """
    uses_detail = model.architecture.uses_detail
    device = next(model.parameters()).device
    batch = Batch.from_data_list([graph.to_data() for graph in graphs]).to(device)
    global_out = model.forward_global(batch.x, batch.edge_index, batch.batch, len(graphs))
    offsets = batch.ptr.tolist()
    chosen, regions, details = [], [], []
    for i, graph in enumerate(graphs):
        focus = global_out.focus[offsets[i]:offsets[i + 1]].detach().cpu()
        anchors = torch.from_numpy(graph.anchors)
        side = reading.detail_window_microns / graph.slide_mpp
        pool = candidates[i] if candidates is not None else torch.arange(len(focus))
        picked = select_regions(focus[pool], anchors[pool], reading.k, reading.min_region_gap * side, explore,
                                generator)
        nodes = pool[picked]
        scores = torch.sigmoid(focus[nodes]).tolist()
        windows = [region_window(graph.anchors[node], graph, reading, score)
                   for node, score in zip(nodes.tolist(), scores, strict=True)]
        chosen.append(nodes)
        regions.append(windows)
        if not uses_detail:
            details.append([])
        elif executor is None:
            details.append([fetch(i, window) for window in windows])
        else:
            details.append(list(executor.map(lambda window, slide=i: fetch(slide, window), windows)))
    if not uses_detail:
        fused = model.fuse(global_out.logits, None)
        return SEWForward(global_out, None, fused, chosen, details, regions, None)
    flat = [detail.to_data() for slide_details in details for detail in slide_details]
    region_batch = Batch.from_data_list(flat).to(device)
    region_slide = torch.repeat_interleave(torch.arange(len(graphs)),
                                           torch.tensor([len(d) for d in details])).to(device)
    detail_out = model.forward_detail(region_batch.x, region_batch.edge_index, region_batch.batch,
                                      region_slide, len(graphs))
    visited = torch.cat([nodes.to(device) + offsets[i] for i, nodes in enumerate(chosen)])
    return SEWForward(global_out, detail_out, model.fuse(global_out.logits, detail_out.logits), chosen,
                      details, regions, global_out.focus[visited])
