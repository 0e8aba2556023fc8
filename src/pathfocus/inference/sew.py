"""SEW slide analysis: a trained run folder in, a :class:`SlideAnalysis` (and region features) out.

Per slide: thumbnail graph -> global branch -> focus -> read the k focused windows at high
magnification -> detail branch -> fused prediction. ``seconds`` covers all of it, from opening the file;
``pixels_read`` counts the high-magnification pixels (the thumbnail is not counted, as for the baseline).
The k windows are read and turned into graphs on a small thread pool: OpenSlide's reads, numpy and SLIC
release the GIL for most of their work, and each read fills its own buffer through the thread-safe
OpenSlide handle, so the windows (and the result) are those of a sequential pass, in less time.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from pathfocus.devices import cpu_threads, pick_device
from pathfocus.errors import CheckpointError, InputError
from pathfocus.inference.sew_graphs import (
    GRAPH_VERSION,
    DetailGraph,
    ThumbnailGraph,
    build_thumbnail_graph,
    focus_heatmap,
    read_detail_graph,
    region_window,
    sew_forward,
)
from pathfocus.inference.slide_analysis import SlideAnalysis
from pathfocus.markers.features import RegionFeatures
from pathfocus.models.sew import DetailOutput, SEWConfig, SEWModel
from pathfocus.runs import load_run_weights, read_run_config
from pathfocus.slide.reader import Slide, open_slide
from pathfocus.units import Region

log = logging.getLogger(__name__)
# NOTE: on the 2 idle cores of the target machine two threads build windows 1.7x faster than one (35 -> 20 ms
# a window; numpy and SLIC hold the GIL for part of their work); with one core busy they cost nothing.
READ_WORKERS = 2


def load_sew_model(run_dir: str | os.PathLike[str], device: str | None = None) -> tuple[SEWModel, dict]:
    """Rebuild the run's :class:`SEWModel` from ``config.json`` and load its weights (checked, no pickle)."""
    config = read_run_config(run_dir, kind="sew")
    if config.get("graph_version", 1) != GRAPH_VERSION:
        log.warning("%s was trained on graphs built by an older pathfocus (graph version %s, now %s): its "
                    "analyses differ slightly from what it learnt on; retrain it for exact results",
                    run_dir, config.get("graph_version", 1), GRAPH_VERSION)
    model = SEWModel(SEWConfig.from_dict(config["sew"]))
    load_run_weights(run_dir, model)
    return model.to(pick_device(device)).eval(), config


class SEWAnalyzer:
    """Analyse slides with a trained SEW run (``device`` None: GPU when present).

    ``read_workers`` threads read and build the detail windows of a slide (1: one after the other).
    """

    def __init__(self, run_dir: str | os.PathLike[str], device: str | None = None,
                 read_workers: int = READ_WORKERS) -> None:
        if read_workers < 1:
            msg = f"read_workers must be at least 1, got {read_workers}"
            raise InputError(msg)
        self.read_workers = read_workers
        self.model, run_config = load_sew_model(run_dir, device)
        self.device = next(self.model.parameters()).device
        self.config = self.model.config
        self.class_names = [str(name) for name in run_config["class_names"]]
        self.embedder = None
        if self.config.detail_embedding:
            from pathfocus.inference.sew_embedding import load_embedder

            self.embedder = load_embedder(self.config.detail_embedding)

    @torch.no_grad()
    def analyze(self, slide_path: Path) -> SlideAnalysis:
        """Classify one slide, reading only its k focused windows at ``config.detail_mpp``."""
        start = time.perf_counter()
        with open_slide(slide_path) as slide, cpu_threads(self.device, 1), self._pool() as pool:
            graph = build_thumbnail_graph(slide, self.config, keep_pixels=True)
            out = sew_forward(self.model, [graph], lambda _, r: self._read(slide, graph, r), executor=pool)
        probabilities = torch.softmax(out.logits[0], dim=0).cpu().numpy()
        focus = torch.sigmoid(out.global_out.focus).cpu().numpy()
        details = out.details[0]
        extra: dict = {"slide_mpp": graph.slide_mpp, "branches": self.config.branches,
                       "global_probabilities": _softmax_list(out.global_out.logits[0])}
        if out.detail_out is not None:
            extra["detail_probabilities"] = _softmax_list(out.detail_out.logits[0])
            extra["lesion_scores"] = out.detail_out.lesion.cpu().tolist()
        seconds = time.perf_counter() - start
        return SlideAnalysis(
            slide_id=Path(slide_path).stem, class_names=self.class_names,
            probabilities=[float(p) for p in probabilities], regions=out.regions[0], seconds=seconds,
            pixels_read=sum(detail.pixels_read for detail in details), thumbnail=graph.thumbnail,
            thumbnail_mpp=self.config.thumbnail_mpp, heatmap=focus_heatmap(graph, focus), extra=extra)

    def _pool(self) -> contextlib.AbstractContextManager[ThreadPoolExecutor | None]:
        """The threads that read a slide's windows (None: read them one after the other)."""
        if self.read_workers == 1:
            return contextlib.nullcontext()
        return ThreadPoolExecutor(max_workers=self.read_workers, thread_name_prefix="sew-read")

    @torch.no_grad()  # grad mode is per thread: pool threads do not inherit the caller's no_grad
    def _read(self, slide: Slide, graph: ThumbnailGraph, region: Region,
              keep_crop: bool = False) -> DetailGraph:
        return read_detail_graph(slide, graph, region, self.config, self.embedder, keep_crop)

    @torch.no_grad()
    def region_features(self, slide_path: Path, all_tissue: bool = False) -> RegionFeatures:
        """Detail-branch embeddings of the slide's focused windows (or of a grid of all tissue windows).

        With ``all_tissue`` the grid windows pass through the detail branch in groups of k (as in
        training), ordered by focus, and each window's focus is that of the node under its centre.
        """
        if not self.config.uses_detail:
            msg = "this SEW run was trained with branches='global' and has no detail branch to embed regions"
            raise CheckpointError(msg)
        with open_slide(slide_path) as slide, cpu_threads(self.device, 1), self._pool() as pool:
            graph = build_thumbnail_graph(slide, self.config, keep_pixels=True)
            if all_tissue:
                data = graph.to_data().to(self.device)
                batch = torch.zeros(data.num_nodes, dtype=torch.long, device=self.device)
                focus = self.model.forward_global(data.x, data.edge_index, batch, 1).focus
                windows = tissue_grid(graph, self.config, torch.sigmoid(focus).cpu().numpy())
                read = functools.partial(self._read, slide, graph, keep_crop=True)
                details = list(pool.map(read, windows) if pool else map(read, windows))
            else:
                fetch = functools.partial(self._read, slide, graph, keep_crop=True)
                out = sew_forward(self.model, [graph], lambda _, r: fetch(r), executor=pool)
                details = out.details[0]
        groups = [details[i:i + self.config.k] for i in range(0, len(details), self.config.k)]
        embeddings, lesions = [], []
        with cpu_threads(self.device, 1):
            for group in groups:
                out = self._detail(group)
                embeddings.append(out.regions.cpu())
                lesions.append(out.lesion.cpu())
        return RegionFeatures(
            slide_ids=np.full(len(details), Path(slide_path).stem, dtype=object),
            boxes=np.array([[d.region.x, d.region.y, d.region.w, d.region.h] for d in details], dtype=float),
            focus=np.array([d.region.score for d in details]), lesion=torch.cat(lesions).numpy(),
            features=torch.cat(embeddings).numpy(), crops=np.stack([d.crop for d in details]))

    def _detail(self, group: list[DetailGraph]) -> DetailOutput:
        from torch_geometric.data import Batch

        batch = Batch.from_data_list([detail.to_data() for detail in group]).to(self.device)
        region_slide = torch.zeros(len(group), dtype=torch.long, device=self.device)
        return self.model.forward_detail(batch.x, batch.edge_index, batch.batch, region_slide, 1)


def tissue_grid(graph: ThumbnailGraph, config: SEWConfig, focus: np.ndarray) -> list[Region]:
    """Non-overlapping detail windows tiling the slide whose centre pixel is tissue, highest focus first."""
    side = config.detail_window_base / graph.slide_mpp
    width, height = graph.slide_size
    windows = []
    for y in np.arange(0, height - side + 1, side):
        for x in np.arange(0, width - side + 1, side):
            col = min(int((x + side / 2) / graph.base_per_pixel), graph.mask.shape[1] - 1)
            row = min(int((y + side / 2) / graph.base_per_pixel), graph.mask.shape[0] - 1)
            if graph.mask[row, col] and graph.labels is not None and graph.labels[row, col] > 0:
                score = float(focus[graph.labels[row, col] - 1])
                windows.append(region_window(np.array([x + side / 2, y + side / 2]), graph, config, score))
    return sorted(windows, key=lambda region: -region.score)


def extract_region_features(run_dir: str | os.PathLike[str], slide_paths: Iterable[str | os.PathLike[str]],
                            all_tissue: bool = False, device: str | None = None) -> RegionFeatures:
    """Region features of many slides for marker discovery (see :class:`RegionFeatures`).

    Per slide: the detail-branch embedding of each focused region (``all_tissue``: of every tissue
    window on a grid), with its level-0 box, focus score, lesion score and a 64 px crop.
    """
    analyzer = SEWAnalyzer(run_dir, device)
    return RegionFeatures.concat([analyzer.region_features(Path(path), all_tissue) for path in slide_paths])


def _softmax_list(logits: torch.Tensor) -> list[float]:
    return [float(p) for p in torch.softmax(logits, dim=0).cpu()]
