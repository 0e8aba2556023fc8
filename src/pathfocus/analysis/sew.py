"""SEW slide analysis: a trained run folder in, a :class:`SlideAnalysis` out.

Per slide: thumbnail graph -> global branch -> focus on every candidate window -> read the k focused
windows at high magnification and encode their tiles -> detail branch -> fused prediction. ``seconds``
covers all of it, from opening the file; ``pixels_read`` is what the reader was asked for after the
thumbnail (the windows), ``thumbnail_pixels_read`` the thumbnail itself: both counted by the reader.

:meth:`SEWAnalyzer.scan` reads the top ``k_max`` windows once (or ``k_max`` random ones, a control) and
:meth:`SEWAnalyzer.predict` runs the detail branch on any prefix of them: the read-budget curve of the
benchmark costs one read per window.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pathfocus.analysis.slide_analysis import SlideAnalysis
from pathfocus.data.slide_labels import display_class_names
from pathfocus.devices import cpu_threads, default_read_threads, pick_device
from pathfocus.engines.encoders import encoder_from_record
from pathfocus.engines.sew.detail import encode_windows
from pathfocus.engines.sew.forward import select_regions, window_focus_logits
from pathfocus.engines.sew.graphs import ThumbnailGraph, build_thumbnail_graph, focus_heatmap
from pathfocus.engines.sew.reading import GRAPH_VERSION, OLDEST_USABLE_GRAPH_VERSION, SEWReading
from pathfocus.engines.sew.settings import run_settings
from pathfocus.errors import CheckpointError, InputError
from pathfocus.models.sew import SEWModel
from pathfocus.runs import load_run_weights, read_run_config
from pathfocus.slide.reader import open_slide

log = logging.getLogger(__name__)


def load_sew_model(
    run_dir: str | os.PathLike[str], device: str | None = None
) -> tuple[SEWModel, SEWReading, dict[str, Any]]:
    """Rebuild the run's :class:`SEWModel` (encoder included) and its reading settings (no pickle)."""
    config = read_run_config(run_dir, kind="sew")
    if "sew" in config or "encoder" not in config:
        msg = (
            f"{run_dir} was trained by pathfocus 0.1, whose detail branch read superpixel graphs; this "
            "version reads encoded tiles: retrain it with `pathfocus train sew`"
        )
        raise CheckpointError(msg)
    if config.get("graph_version", 1) < OLDEST_USABLE_GRAPH_VERSION:
        msg = (
            f"{run_dir} was trained on thumbnail graphs of version {config.get('graph_version', 1)}, whose "
            f"node features held positions; this version ({GRAPH_VERSION}) leaves them out: retrain it with "
            "`pathfocus train sew`"
        )
        raise CheckpointError(msg)
    if config.get("graph_version", 1) != GRAPH_VERSION:
        log.warning(
            "%s was trained on graphs built by another pathfocus (graph version %s, now %s): its "
            "analyses differ from what it learnt on; retrain it for exact results",
            run_dir,
            config.get("graph_version", 1),
            GRAPH_VERSION,
        )
    architecture, reading = run_settings(config, f"{run_dir}/config.json")
    model = SEWModel(architecture, encoder_from_record(config["encoder"]))
    load_run_weights(run_dir, model)
    return model.to(pick_device(device)).eval(), reading, config


@dataclass
class SlideScan:
    """One slide's thumbnail graph, window focus and the windows read (in selection order)."""

    slide_id: str
    graph: ThumbnailGraph
    node_focus: torch.Tensor  # N focus logits
    window_focus: torch.Tensor  # W focus logits (every candidate window)
    global_logits: torch.Tensor  # C
    chosen: list[int]  # windows read, best first
    tokens: torch.Tensor  # len(chosen) x hidden window tokens
    features: torch.Tensor  # tile features of the windows read (T x D)
    tile_window: torch.Tensor  # position in ``chosen`` of each tile
    window_pixels: list[int]  # pixels each window's read took
    thumbnail_pixels: int
    seconds: float
    tiles: list[np.ndarray] = field(default_factory=list)  # per window: its tissue tiles, when kept


class SEWAnalyzer:
    """Analyse slides with a trained SEW run (``device`` None: GPU when present).

    ``read_threads`` threads read a slide's windows (1: one after the other; None: as many as the
    machine offers, up to four); ``torch_threads`` caps torch's CPU threads (None: all CPUs);
    ``slide_mpp`` overrides the slides' level-0 microns per pixel (None: their metadata's).
    """

    def __init__(
        self,
        run_dir: str | os.PathLike[str],
        device: str | None = None,
        read_threads: int | None = None,
        torch_threads: int | None = None,
        slide_mpp: float | None = None,
    ) -> None:
        self.slide_mpp = slide_mpp  # level-0 mpp of the slides, when their metadata lacks it
        threads = default_read_threads() if read_threads is None else read_threads
        if threads < 1:
            msg = f"read_threads must be at least 1, got {threads}"
            raise InputError(msg)
        self.read_threads = threads
        self.torch_threads = torch_threads or torch.get_num_threads()
        self.run_dir = Path(run_dir)
        self.model, self.reading, self.config = load_sew_model(run_dir, device)
        self.architecture = self.model.architecture
        self.device = next(self.model.parameters()).device
        self.class_names = display_class_names(self.config)  # names, not 0/1, where given

    def pool(self) -> contextlib.AbstractContextManager[ThreadPoolExecutor | None]:
        """The threads that read a slide's windows (None: read them one after the other)."""
        if self.read_threads == 1:
            return contextlib.nullcontext()
        return ThreadPoolExecutor(max_workers=self.read_threads, thread_name_prefix="sew-read")

    @torch.no_grad()
    def scan(
        self,
        slide_path: str | os.PathLike[str],
        k: int | None = None,
        pick: Callable[[ThumbnailGraph, torch.Tensor, int], list[int]] | None = None,
        keep_tiles: bool = False,
    ) -> SlideScan:
        """Read the ``k`` (default: the run's) windows ``pick`` chooses (default: top focus, spread apart)."""
        start = time.perf_counter()
        k = k or self.reading.k
        with (
            open_slide(slide_path, mpp=self.slide_mpp) as slide,
            cpu_threads(self.device, self.torch_threads),
            self.pool() as pool,
        ):
            graph = build_thumbnail_graph(slide, self.reading, keep_pixels=True)
            thumbnail_pixels = slide.reads.pixels
            data = graph.to_data().to(self.device)
            batch = torch.zeros(data.num_nodes, dtype=torch.long, device=self.device)
            global_out = self.model.forward_global(data.x, data.edge_index, batch, 1)
            window_focus = window_focus_logits([graph], global_out.focus, [0, data.num_nodes])[0]
            chosen = (pick or self._top_focus)(graph, window_focus.cpu(), k)
            features = tile_window = tokens = torch.zeros(0)
            window_pixels, tiles = [], []
            if self.architecture.uses_detail:
                features, tile_window, window_pixels, tiles = encode_windows(
                    slide, graph.windows, chosen, self.reading.tiles, self.model.encoder, pool
                )
                tokens = self.model.detail_branch.windows(features, tile_window, len(chosen))
            counted = slide.reads.pixels - thumbnail_pixels
            if counted != sum(window_pixels):  # every pixel read after the thumbnail is a window's
                msg = (f"SEW read {counted} pixels of {slide_path} but its windows account for "
                       f"{sum(window_pixels)}")
                raise RuntimeError(msg)
        return SlideScan(
            Path(slide_path).stem,
            graph,
            global_out.focus,
            window_focus,
            global_out.logits[0],
            chosen,
            tokens,
            features,
            tile_window,
            window_pixels,
            thumbnail_pixels,
            time.perf_counter() - start,
            tiles if keep_tiles else [],
        )

    def _top_focus(self, graph: ThumbnailGraph, window_focus: torch.Tensor, k: int) -> list[int]:
        gap = self.reading.min_gap_um / graph.slide_mpp
        return select_regions(window_focus, torch.from_numpy(graph.windows.centres), k, gap).tolist()

    @torch.no_grad()
    def predict(self, scan: SlideScan, k: int | None = None) -> dict[str, Any]:
        """Probabilities from the first ``k`` windows of ``scan`` (all by default), with lesion scores."""
        k = len(scan.chosen) if k is None else min(k, len(scan.chosen))
        global_logits = scan.global_logits[None]
        result: dict[str, Any] = {
            "global_probabilities": _softmax_list(scan.global_logits),
            "k": k,
            "pixels_read": int(sum(scan.window_pixels[:k])),
        }
        if not self.architecture.uses_detail:
            fused = self.model.fuse(global_logits, None)
        else:
            window_slide = torch.zeros(k, dtype=torch.long, device=self.device)
            detail = self.model.detail_branch(scan.tokens[:k], window_slide, 1)
            fused = self.model.fuse(global_logits, detail.logits)
            result |= {
                "detail_probabilities": _softmax_list(detail.logits[0]),
                "lesion_scores": detail.lesion.cpu().tolist(),
            }
        return result | {"probabilities": _softmax_list(fused[0])}

    def analyze(self, slide_path: Path) -> SlideAnalysis:
        """Classify one slide, reading only its k focused windows at the tiles' resolution."""
        start = time.perf_counter()
        scan = self.scan(slide_path)
        prediction = self.predict(scan)
        focus = torch.sigmoid(scan.window_focus).cpu().numpy()
        regions = [scan.graph.windows.region(w, float(focus[w])) for w in scan.chosen]
        node_focus = torch.sigmoid(scan.node_focus).cpu().numpy()
        extra = {
            "method": "sew",
            "run": str(self.run_dir.resolve()),
            "slide_mpp": scan.graph.slide_mpp,
            "branches": self.architecture.branches,
            "global_weight": float(self.model.global_weight),
            **{
                key: prediction[key]
                for key in ("global_probabilities", "detail_probabilities", "lesion_scores")
                if key in prediction
            },
            "thumbnail_pixels_read": scan.thumbnail_pixels,
            "n_candidate_windows": len(scan.graph.windows),
            "n_tiles_read": int(len(scan.tile_window)),
            "read_threads": self.read_threads,
            "encoder": self.config["encoder"].get("description", self.config["encoder"]["name"]),
        }
        return SlideAnalysis(
            slide_id=scan.slide_id,
            class_names=self.class_names,
            probabilities=prediction["probabilities"],
            regions=regions,
            seconds=time.perf_counter() - start,
            pixels_read=prediction["pixels_read"],
            thumbnail=scan.graph.thumbnail,
            thumbnail_mpp=scan.graph.thumbnail_mpp,
            heatmap=focus_heatmap(scan.graph, node_focus),
            extra=extra,
        )


def _softmax_list(logits: torch.Tensor) -> list[float]:
    return [float(p) for p in torch.softmax(logits, dim=-1).cpu()]
