"""Per-slide tile features on disk, computed once and shared by every run and process that needs them.

A slide's features depend on the slide file (path, size, mtime), the tiling (tile size, mpp, tissue
threshold) and the encoder (name, input size, weights), and on nothing else: the cache key holds exactly
these, so changing any of them recomputes and nothing stale is ever reused. Under DDP each process encodes
its own share of the slides (:func:`encode_cohort`), then every process reads all of them back, so each
slide is read and encoded once however many processes train. A slide that cannot be encoded leaves a
``<slide_id>.failed.json`` with the reason instead of features.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from pathfocus.engines.encoders import encoder_fingerprint
from pathfocus.engines.tiles import TileSettings, encode_slide
from pathfocus.errors import SlideError
from pathfocus.fileio import atomic_path, read_json, write_json
from pathfocus.models.tile_encoder import TileEncoder

log = logging.getLogger(__name__)


@dataclass
class SlideFeatures:
    """One slide's tile features (N x D float32) and their level-0 top-left corners (N x 2 int64)."""

    slide_id: str
    features: torch.Tensor
    coords: torch.Tensor


def cache_key(slide_path: str | os.PathLike[str], settings: TileSettings, fingerprint: str) -> str:
    """What the cached features of a slide depend on (a changed slide file or tiling invalidates them)."""
    path = Path(slide_path).resolve()
    stat = path.stat()
    return json.dumps(
        {
            "path": str(path),
            "size": stat.st_size,
            "mtime_ns": stat.st_mtime_ns,
            "tile_size": settings.tile_size,
            "mpp": settings.mpp,
            "min_tissue": settings.min_tissue,
            "encoder": fingerprint,
        },
        sort_keys=True,
    )


class TileFeatureCache:
    """Tile features of slides under ``root/tiles-<encoder fingerprint>``, for one encoder and one tiling.

    Runs that share ``root`` (SEW and the baseline on one cohort, ablations) share the features of a
    shared encoder; another encoder gets its own folder.
    """

    def __init__(
        self, root: Path, encoder: TileEncoder, settings: TileSettings, device: torch.device
    ) -> None:
        self.encoder = encoder
        self.settings = settings
        self.device = device
        self.fingerprint = encoder_fingerprint(encoder)
        self.folder = Path(root) / f"tiles-{self.fingerprint}"

    def _paths(self, slide_id: str) -> tuple[Path, Path]:
        return self.folder / f"{slide_id}.safetensors", self.folder / f"{slide_id}.failed.json"

    def ensure(self, slide_id: str, slide_path: str | os.PathLike[str], rank: int = 0) -> None:
        """Encode the slide unless its features (or its failure, for this key) are already stored;
        ``rank`` (the process that encodes it) is recorded in the file's metadata."""
        features_file, failed_file = self._paths(slide_id)
        key = cache_key(slide_path, self.settings, self.fingerprint)
        if self._load(features_file, key) is not None:
            return
        if failed_file.is_file() and read_json(failed_file).get("key") == key:
            return
        try:
            tiles = encode_slide(slide_path, self.encoder, self.settings, self.device)
        except (SlideError, OSError) as error:
            log.warning("skipping slide %s: %s", slide_path, error)
            write_json(failed_file, {"key": key, "error": str(error), "path": str(slide_path)})
            return
        coords = torch.from_numpy(np.ascontiguousarray(tiles.grid.coords, dtype=np.int64))
        with atomic_path(features_file) as tmp:
            save_file(
                {"features": tiles.features.contiguous(), "coords": coords},
                str(tmp),
                metadata={"key": key, "writer_rank": str(rank)},
            )
        failed_file.unlink(missing_ok=True)

    def get(self, slide_id: str, slide_path: str | os.PathLike[str]) -> SlideFeatures | str:
        """The stored features of the slide, or the reason it has none."""
        features_file, failed_file = self._paths(slide_id)
        key = cache_key(slide_path, self.settings, self.fingerprint)
        stored = self._load(features_file, key)
        if stored is not None:
            return SlideFeatures(slide_id, *stored)
        if failed_file.is_file():
            return str(read_json(failed_file).get("error"))
        return "its tile features were not computed"

    @staticmethod
    def _load(path: Path, key: str) -> tuple[torch.Tensor, torch.Tensor] | None:
        if not path.is_file():
            return None
        try:
            with safe_open(str(path), framework="pt") as handle:
                if (handle.metadata() or {}).get("key") != key:
                    return None
                return handle.get_tensor("features"), handle.get_tensor("coords")
        except (SafetensorError, OSError) as error:
            log.warning("ignoring unreadable feature cache %s (%s); recomputing it", path, error)
            return None


def encode_cohort(
    cache: TileFeatureCache,
    slides: Sequence[tuple[str, str]],
    rank: int = 0,
    world: int = 1,
    barrier: Callable[[], None] | None = None,
    on_slide: Callable[[], None] | None = None,
) -> tuple[list[SlideFeatures], list[dict[str, str]]]:
    """Features of every ``(slide_id, path)``: this process encodes slides ``rank::world``, waits for the
    others (``barrier``), then reads all back. Returns the features and the slides skipped, with why."""
    for slide_id, path in slides[rank::world]:
        cache.ensure(slide_id, path, rank)
        if on_slide is not None:
            on_slide()
    if barrier is not None and world > 1:
        barrier()
    found, skipped = [], []
    for slide_id, path in slides:
        result = cache.get(slide_id, path)
        if isinstance(result, str):
            skipped.append({"slide_id": slide_id, "path": str(path), "error": result})
        else:
            found.append(result)
    return found, skipped
