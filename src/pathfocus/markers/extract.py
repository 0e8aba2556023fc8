"""Region features of a cohort from a trained SEW run: the detail branch's embedding of each window.

Per slide, either the windows SEW focused on (what it reads when analysing) or every candidate window
(``all_tissue``: every tissue tile is then read and encoded), each with its level-0 box, focus score,
lesion score and a small crop for the prototype gallery. Windows are read and encoded exactly as analysis
does (same reading settings, same encoder, same detail branch).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from pathfocus.analysis.sew import SEWAnalyzer
from pathfocus.engines.tile_cache import TileFeatureCache
from pathfocus.errors import CheckpointError, PathfocusError
from pathfocus.markers.features import RegionFeatures

CROP_SIDE = 64  # side of the region crops kept for galleries


@torch.no_grad()
def slide_region_features(analyzer: SEWAnalyzer, slide_path: Path, all_tissue: bool = False,
                          cache: TileFeatureCache | None = None) -> RegionFeatures:
    """Detail-branch embeddings of one slide's focused windows (or of all its candidate windows).

    With ``all_tissue`` and a tile-feature ``cache`` that holds the slide (for this run's encoder), the
    windows are embedded from the cache instead of being read again; their gallery crops are then read
    later, for the few regions shown.
    """
    if not analyzer.architecture.uses_detail:
        msg = "this SEW run was trained with branches='global' and has no detail branch to embed regions"
        raise CheckpointError(msg)
    if all_tissue and cache is not None:
        cached = _from_cache(analyzer, Path(slide_path), cache)
        if cached is not None:
            return cached

    def every_window(graph, focus, k):  # type: ignore[no-untyped-def]
        return torch.argsort(focus, descending=True).tolist()

    scan = analyzer.scan(slide_path, pick=every_window if all_tissue else None, keep_tiles=True)
    _, lesion = analyzer.model.detail_branch.score(scan.tokens)
    focus = torch.sigmoid(scan.window_focus).cpu().numpy()
    boxes = scan.graph.windows.boxes[scan.chosen].astype(float)
    return RegionFeatures(
        slide_ids=np.full(len(scan.chosen), scan.slide_id, dtype=object), boxes=boxes,
        focus=focus[scan.chosen], lesion=lesion.cpu().numpy(), features=scan.tokens.cpu().numpy(),
        crops=np.stack([_crop(tiles) for tiles in scan.tiles]))


def _from_cache(analyzer: SEWAnalyzer, slide_path: Path, cache: TileFeatureCache) -> RegionFeatures | None:
    from pathfocus.engines.sew.forward import window_focus_logits
    from pathfocus.engines.sew.graphs import build_thumbnail_graph
    from pathfocus.slide.reader import open_slide

    found = cache.get(slide_path.stem, slide_path)
    if isinstance(found, str):
        return None
    with open_slide(slide_path) as slide:
        graph = build_thumbnail_graph(slide, analyzer.reading)
    windows = graph.windows
    if not np.array_equal(found.coords.numpy(), windows.tile_coords):
        return None
    model, device = analyzer.model, analyzer.device
    data = graph.to_data().to(device)
    node_focus = model.forward_global(data.x, data.edge_index, torch.zeros(data.num_nodes, dtype=torch.long,
                                                                            device=device), 1).focus
    focus = torch.sigmoid(window_focus_logits([graph], node_focus, [0, data.num_nodes])[0]).cpu().numpy()
    tokens = model.detail_branch.windows(found.features.to(device),
                                         torch.from_numpy(windows.tile_window).to(device), len(windows))
    _, lesion = model.detail_branch.score(tokens)
    order = np.argsort(-focus, kind="stable")
    return RegionFeatures(slide_ids=np.full(len(order), slide_path.stem, dtype=object),
                          boxes=windows.boxes[order].astype(float), focus=focus[order],
                          lesion=lesion.cpu().numpy()[order], features=tokens.cpu().numpy()[order])


def _crop(tiles: np.ndarray) -> np.ndarray:
    """A ``CROP_SIDE`` preview of a window: its first tissue tile, shrunk."""
    return np.asarray(Image.fromarray(tiles[0]).resize((CROP_SIDE, CROP_SIDE), Image.Resampling.BOX))


def extract_region_features(run_dir: str | os.PathLike[str], slide_paths: Iterable[str | os.PathLike[str]],
                            all_tissue: bool = False, device: str | None = None,
                            cluster: str | None = None) -> RegionFeatures:
    """Region features of many slides for marker discovery (see :class:`RegionFeatures`).

    Per slide: the detail-branch embedding of each focused window (``all_tissue``: of every candidate
    window), with its level-0 box, focus score, lesion score and a 64 px crop. With ``cluster`` (a
    ``--cluster`` value) each slide is a task on that cluster; the first slide that fails stops it.
    """
    if cluster is None:
        analyzer = SEWAnalyzer(run_dir, device)
        cache = run_tile_cache(analyzer) if all_tissue else None
        parts = [slide_region_features(analyzer, Path(path), all_tissue, cache) for path in slide_paths]
    else:
        parts = _on_cluster(RegionJob(Path(run_dir), all_tissue, device), slide_paths, cluster)
    if any(part.crops is None for part in parts):
        parts = [RegionFeatures(p.slide_ids, p.boxes, p.focus, p.lesion, p.features) for p in parts]
    return RegionFeatures.concat(parts)


@dataclass(frozen=True)
class RegionJob:
    """One slide's region features, as a small picklable task: each process builds the run's analyser
    (and tile cache) once, not once per slide."""

    run_dir: Path
    all_tissue: bool
    device: str | None

    def __call__(self, path: Path) -> tuple[dict[str, Any], bool]:
        """The slide's status row (its features under ``features`` when it worked) and whether an
        unexpected error made it fail (worth a retry), classified as every batch command does."""
        from pathfocus.slide.batch import process_slide

        def features(slide: Path) -> dict[str, Any]:
            analyzer, cache = _extractor(self.run_dir, self.device, self.all_tissue)
            return {"features": slide_region_features(analyzer, slide, self.all_tissue, cache)}

        return process_slide(features, path, warn=False)


@functools.lru_cache(maxsize=1)
def _extractor(run_dir: Path, device: str | None,
               all_tissue: bool) -> tuple[SEWAnalyzer, TileFeatureCache | None]:
    analyzer = SEWAnalyzer(run_dir, device)
    return analyzer, run_tile_cache(analyzer) if all_tissue else None


def _on_cluster(job: RegionJob, slide_paths: Iterable[str | os.PathLike[str]],
                cluster: str) -> list[RegionFeatures]:
    from pathfocus.slide.batch import lost_row
    from pathfocus.slide.cluster import parse_cluster, task_resources
    from pathfocus.slide.cluster_batch import cluster_results

    found: dict[int, RegionFeatures] = {}
    paths = (Path(path) for path in slide_paths)
    resources = task_resources(job.device)
    for index, row in cluster_results(parse_cluster(cluster), paths, job, lost_row, resources):
        if row["status"] == "failed":
            msg = f"region features failed for {Path(row['path']).name}: {row['reason']}"
            raise PathfocusError(msg)
        found[index] = row["features"]
    return [found[i] for i in sorted(found)]


def run_tile_cache(analyzer: SEWAnalyzer) -> TileFeatureCache | None:
    """The tile-feature cache the run was trained with (None when it is gone)."""
    root = Path(analyzer.config.get("cache_dir") or analyzer.run_dir / "cache")
    if not root.is_dir():
        return None
    return TileFeatureCache(root, analyzer.model.encoder, analyzer.reading.tiles, analyzer.device)
