"""Region features of a cohort from a trained SEW run: the detail branch's embedding of each window.

Per slide, either the windows SEW focused on (what it reads when analysing) or every candidate window
(``all_tissue``: every tissue tile is then read and encoded), each with its level-0 box, focus score,
lesion score and a small crop for the prototype gallery. Windows are read and encoded exactly as analysis
does (same reading settings, same encoder, same detail branch).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from pathfocus.analysis.sew import SEWAnalyzer
from pathfocus.errors import CheckpointError
from pathfocus.markers.features import RegionFeatures

CROP_SIDE = 64  # side of the region crops kept for galleries


@torch.no_grad()
def slide_region_features(analyzer: SEWAnalyzer, slide_path: Path,
                          all_tissue: bool = False) -> RegionFeatures:
    """Detail-branch embeddings of one slide's focused windows (or of all its candidate windows)."""
    if not analyzer.architecture.uses_detail:
        msg = "this SEW run was trained with branches='global' and has no detail branch to embed regions"
        raise CheckpointError(msg)

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


def _crop(tiles: np.ndarray) -> np.ndarray:
    """A ``CROP_SIDE`` preview of a window: its first tissue tile, shrunk."""
    return np.asarray(Image.fromarray(tiles[0]).resize((CROP_SIDE, CROP_SIDE), Image.Resampling.BOX))


def extract_region_features(run_dir: str | os.PathLike[str], slide_paths: Iterable[str | os.PathLike[str]],
                            all_tissue: bool = False, device: str | None = None) -> RegionFeatures:
    """Region features of many slides for marker discovery (see :class:`RegionFeatures`).

    Per slide: the detail-branch embedding of each focused window (``all_tissue``: of every candidate
    window), with its level-0 box, focus score, lesion score and a 64 px crop.
    """
    analyzer = SEWAnalyzer(run_dir, device)
    return RegionFeatures.concat([slide_region_features(analyzer, Path(path), all_tissue)
                                  for path in slide_paths])
