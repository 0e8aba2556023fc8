"""Region features of a cohort from a trained SEW run: the detail branch's embedding of each region.

Per slide, either the regions SEW focused on (what it reads when analysing) or every tissue window on a
grid (``all_tissue``), each with its level-0 box, focus score, lesion score and a small crop for the
prototype gallery. The windows are read and embedded exactly as analysis does (same reading settings,
same detail branch), in groups of k as in training.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch

from pathfocus.analysis.sew import SEWAnalyzer
from pathfocus.devices import cpu_threads
from pathfocus.engines.sew.forward import sew_forward
from pathfocus.engines.sew.graphs import DetailGraph, ThumbnailGraph, build_thumbnail_graph, region_window
from pathfocus.engines.sew.reading import SEWReading
from pathfocus.errors import CheckpointError
from pathfocus.markers.features import RegionFeatures
from pathfocus.models.sew import DetailOutput
from pathfocus.slide.reader import open_slide
from pathfocus.units import Region


@torch.no_grad()
def slide_region_features(analyzer: SEWAnalyzer, slide_path: Path,
                          all_tissue: bool = False) -> RegionFeatures:
    """Detail-branch embeddings of one slide's focused windows (or of a grid of all its tissue windows).

    With ``all_tissue`` the grid windows pass through the detail branch in groups of k (as in training),
    ordered by focus, and each window's focus is that of the node under its centre.
    """
    if not analyzer.architecture.uses_detail:
        msg = "this SEW run was trained with branches='global' and has no detail branch to embed regions"
        raise CheckpointError(msg)
    model, reading, device = analyzer.model, analyzer.reading, analyzer.device
    with open_slide(slide_path) as slide, cpu_threads(device, 1), analyzer.pool() as pool:
        graph = build_thumbnail_graph(slide, reading, keep_pixels=True)
        read = functools.partial(analyzer.read, slide, graph, keep_crop=True)
        if all_tissue:
            data = graph.to_data().to(device)
            batch = torch.zeros(data.num_nodes, dtype=torch.long, device=device)
            focus = model.forward_global(data.x, data.edge_index, batch, 1).focus
            windows = tissue_grid(graph, reading, torch.sigmoid(focus).cpu().numpy())
            details = list(pool.map(read, windows) if pool else map(read, windows))
        else:
            out = sew_forward(model, reading, [graph], lambda _, region: read(region), executor=pool)
            details = out.details[0]
    groups = [details[i:i + reading.k] for i in range(0, len(details), reading.k)]
    embeddings, lesions = [], []
    with cpu_threads(device, 1):
        for group in groups:
            out = _detail(analyzer, group)
            embeddings.append(out.regions.cpu())
            lesions.append(out.lesion.cpu())
    return RegionFeatures(
        slide_ids=np.full(len(details), Path(slide_path).stem, dtype=object),
        boxes=np.array([[d.region.x, d.region.y, d.region.w, d.region.h] for d in details], dtype=float),
        focus=np.array([d.region.score for d in details]), lesion=torch.cat(lesions).numpy(),
        features=torch.cat(embeddings).numpy(), crops=np.stack([d.crop for d in details]))


def _detail(analyzer: SEWAnalyzer, group: list[DetailGraph]) -> DetailOutput:
    from torch_geometric.data import Batch

    batch = Batch.from_data_list([detail.to_data() for detail in group]).to(analyzer.device)
    region_slide = torch.zeros(len(group), dtype=torch.long, device=analyzer.device)
    return analyzer.model.forward_detail(batch.x, batch.edge_index, batch.batch, region_slide, 1)


def tissue_grid(graph: ThumbnailGraph, reading: SEWReading, focus: np.ndarray) -> list[Region]:
    """Non-overlapping detail windows tiling the slide whose centre pixel is tissue, highest focus first."""
    side = reading.detail_window_microns / graph.slide_mpp
    width, height = graph.slide_size
    windows = []
    for y in np.arange(0, height - side + 1, side):
        for x in np.arange(0, width - side + 1, side):
            col = min(int((x + side / 2) / graph.base_per_pixel), graph.mask.shape[1] - 1)
            row = min(int((y + side / 2) / graph.base_per_pixel), graph.mask.shape[0] - 1)
            if graph.mask[row, col] and graph.labels is not None and graph.labels[row, col] > 0:
                score = float(focus[graph.labels[row, col] - 1])
                windows.append(region_window(np.array([x + side / 2, y + side / 2]), graph, reading, score))
    return sorted(windows, key=lambda region: -region.score)


def extract_region_features(run_dir: str | os.PathLike[str], slide_paths: Iterable[str | os.PathLike[str]],
                            all_tissue: bool = False, device: str | None = None) -> RegionFeatures:
    """Region features of many slides for marker discovery (see :class:`RegionFeatures`).

    Per slide: the detail-branch embedding of each focused region (``all_tissue``: of every tissue
    window on a grid), with its level-0 box, focus score, lesion score and a 64 px crop.
    """
    analyzer = SEWAnalyzer(run_dir, device)
    return RegionFeatures.concat([slide_region_features(analyzer, Path(path), all_tissue)
                                  for path in slide_paths])
