"""How SEW reads a slide: the thumbnail graph, how many windows, where, and how each window is described.

These settings change what SEW *sees*, not what it is: they decide the graphs that training caches and
analysis rebuilds, so their graph-shaping part, together with :data:`GRAPH_VERSION`, is hashed into the
cache keys (:meth:`SEWReading.thumbnail_key`, :meth:`SEWReading.detail_key`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from pathfocus.errors import InputError

# bump when the code that builds graphs changes what it builds: caches made by older code are then not
# reused, and analysing a run trained on older graphs warns (2: coarser SLIC copies, strided window graphs)
GRAPH_VERSION = 2
THUMBNAIL_FIELDS = ("thumbnail_mpp", "n_superpixels", "superpixel_compactness")
DETAIL_FIELDS = ("detail_mpp", "detail_window", "detail_superpixels", "detail_slic_side",
                 "detail_feature_stride", "superpixel_compactness", "detail_embedding")


@dataclass(frozen=True)
class SEWReading:
    """Resolutions in microns per pixel; windows in pixels at ``detail_mpp``.

    ``detail_slic_side``: SLIC runs on the window downscaled to at most this side (its cost driver);
    ``detail_feature_stride``: window statistics on every s-th row and column (s^2 fewer pixels);
    ``detail_embedding``: ``timm:<name>`` or ``kfde:<patch run>`` CNN features per detail superpixel;
    ``min_region_gap``: windows' centres at least this many window sides apart (0: no suppression).
    """

    thumbnail_mpp: float = 8.0
    n_superpixels: int = 192
    superpixel_compactness: float = 10.0
    k: int = 8
    detail_mpp: float = 0.5
    detail_window: int = 512
    detail_superpixels: int = 48
    detail_slic_side: int = 64
    detail_feature_stride: int = 2
    detail_embedding: str | None = None
    min_region_gap: float = 0.5

    def __post_init__(self) -> None:
        positive = {"k": self.k, "thumbnail_mpp": self.thumbnail_mpp, "detail_mpp": self.detail_mpp,
                    "detail_window": self.detail_window, "n_superpixels": self.n_superpixels,
                    "detail_superpixels": self.detail_superpixels,
                    "detail_feature_stride": self.detail_feature_stride}
        bad = [name for name, value in positive.items() if value <= 0]
        if bad:
            msg = f"SEW reading settings must be positive: check {', '.join(bad)}"
            raise InputError(msg)
        if self.min_region_gap < 0:
            msg = f"min_region_gap must be >= 0 (window sides), got {self.min_region_gap}"
            raise InputError(msg)

    @property
    def detail_window_microns(self) -> float:
        """Side of a detail window in microns."""
        return self.detail_window * self.detail_mpp

    def thumbnail_key(self) -> str:
        """A short hash of what shapes a cached thumbnail graph (a change makes a new cache)."""
        return _key(self, THUMBNAIL_FIELDS)

    def detail_key(self) -> str:
        """A short hash of what shapes a cached window subgraph."""
        return _key(self, DETAIL_FIELDS)


def _key(reading: SEWReading, names: tuple[str, ...]) -> str:
    values = {name: getattr(reading, name) for name in names} | {"graph_version": GRAPH_VERSION}
    return hashlib.sha1(json.dumps(values, sort_keys=True).encode()).hexdigest()[:10]
