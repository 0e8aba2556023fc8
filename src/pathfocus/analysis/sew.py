"""SEW slide analysis: a trained run folder in, a :class:`SlideAnalysis` out.

Per slide: thumbnail graph -> global branch -> focus -> read the k focused windows at high
magnification -> detail branch -> fused prediction. ``seconds`` covers all of it, from opening the file;
``pixels_read`` counts the high-magnification pixels (the thumbnail is not counted, as for the baseline).
The k windows are read and turned into graphs on a small thread pool: OpenSlide's reads, numpy and SLIC
release the GIL for most of their work, and each read fills its own buffer through the thread-safe
OpenSlide handle, so the windows (and the result) are those of a sequential pass, in less time.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import torch

from pathfocus.analysis.slide_analysis import SlideAnalysis
from pathfocus.devices import cpu_threads, default_read_threads, pick_device
from pathfocus.engines.sew.embedding import EMBEDDER_FILE, CNNEmbedder, load_embedder
from pathfocus.engines.sew.forward import sew_forward
from pathfocus.engines.sew.graphs import DetailGraph, ThumbnailGraph, focus_heatmap, read_detail_graph
from pathfocus.engines.sew.reading import GRAPH_VERSION, SEWReading
from pathfocus.engines.sew.settings import run_settings
from pathfocus.errors import InputError
from pathfocus.models.sew import SEWModel
from pathfocus.runs import load_run_weights, read_run_config
from pathfocus.slide.reader import Slide, open_slide
from pathfocus.units import Region

log = logging.getLogger(__name__)


def load_sew_model(run_dir: str | os.PathLike[str],
                   device: str | None = None) -> tuple[SEWModel, SEWReading, dict[str, Any]]:
    """Rebuild the run's :class:`SEWModel` and its reading settings from ``config.json`` (no pickle)."""
    config = read_run_config(run_dir, kind="sew")
    if config.get("graph_version", 1) != GRAPH_VERSION:
        log.warning("%s was trained on graphs built by an older pathfocus (graph version %s, now %s): its "
                    "analyses differ slightly from what it learnt on; retrain it for exact results",
                    run_dir, config.get("graph_version", 1), GRAPH_VERSION)
    architecture, reading = run_settings(config, f"{run_dir}/config.json")
    model = SEWModel(architecture)
    load_run_weights(run_dir, model)
    return model.to(pick_device(device)).eval(), reading, config


def load_run_embedder(run_dir: Path, reading: SEWReading, device: torch.device) -> CNNEmbedder | None:
    """The run's detail embedder, from the weights saved in the run when it has them (no download)."""
    if not reading.detail_embedding:
        return None
    saved = run_dir / EMBEDDER_FILE
    return load_embedder(reading.detail_embedding, str(device), saved if saved.is_file() else None)


class SEWAnalyzer:
    """Analyse slides with a trained SEW run (``device`` None: GPU when present).

    ``read_threads`` threads read and build the detail windows of a slide (1: one after the other;
    None: as many as the machine offers, up to four).
    """

    def __init__(self, run_dir: str | os.PathLike[str], device: str | None = None,
                 read_threads: int | None = None) -> None:
        threads = default_read_threads() if read_threads is None else read_threads
        if threads < 1:
            msg = f"read_threads must be at least 1, got {threads}"
            raise InputError(msg)
        self.read_threads = threads
        self.run_dir = Path(run_dir)
        self.model, self.reading, run_config = load_sew_model(run_dir, device)
        self.architecture = self.model.architecture
        self.device = next(self.model.parameters()).device
        self.class_names = [str(name) for name in run_config["class_names"]]
        self.embedder = load_run_embedder(self.run_dir, self.reading, self.device)

    @torch.no_grad()
    def analyze(self, slide_path: Path) -> SlideAnalysis:
        """Classify one slide, reading only its k focused windows at ``reading.detail_mpp``."""
        from pathfocus.engines.sew.graphs import build_thumbnail_graph

        start = time.perf_counter()
        with open_slide(slide_path) as slide, cpu_threads(self.device, 1), self.pool() as pool:
            graph = build_thumbnail_graph(slide, self.reading, keep_pixels=True)
            out = sew_forward(self.model, self.reading, [graph], lambda _, r: self.read(slide, graph, r),
                              executor=pool)
        probabilities = torch.softmax(out.logits[0], dim=0).cpu().numpy()
        focus = torch.sigmoid(out.global_out.focus).cpu().numpy()
        details = out.details[0]
        extra: dict[str, Any] = {"method": "sew", "slide_mpp": graph.slide_mpp,
                                 "branches": self.architecture.branches,
                                 "global_probabilities": _softmax_list(out.global_out.logits[0]),
                                 "read_threads": self.read_threads}
        if out.detail_out is not None:
            extra["detail_probabilities"] = _softmax_list(out.detail_out.logits[0])
            extra["lesion_scores"] = out.detail_out.lesion.cpu().tolist()
        seconds = time.perf_counter() - start
        return SlideAnalysis(
            slide_id=Path(slide_path).stem, class_names=self.class_names,
            probabilities=[float(p) for p in probabilities], regions=out.regions[0], seconds=seconds,
            pixels_read=sum(detail.pixels_read for detail in details), thumbnail=graph.thumbnail,
            thumbnail_mpp=self.reading.thumbnail_mpp, heatmap=focus_heatmap(graph, focus), extra=extra)

    def pool(self) -> contextlib.AbstractContextManager[ThreadPoolExecutor | None]:
        """The threads that read a slide's windows (None: read them one after the other)."""
        if self.read_threads == 1:
            return contextlib.nullcontext()
        return ThreadPoolExecutor(max_workers=self.read_threads, thread_name_prefix="sew-read")

    @torch.no_grad()  # grad mode is per thread: pool threads do not inherit the caller's no_grad
    def read(self, slide: Slide, graph: ThumbnailGraph, region: Region,
             keep_crop: bool = False) -> DetailGraph:
        """Read one window of ``slide`` and build its detail subgraph."""
        return read_detail_graph(slide, graph, region, self.reading, self.embedder, keep_crop)


def _softmax_list(logits: torch.Tensor) -> list[float]:
    return [float(p) for p in torch.softmax(logits, dim=0).cpu()]
