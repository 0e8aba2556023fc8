"""How SEW reads a slide: the thumbnail graph, which windows it may read, how many, and how far apart.

These settings change what SEW *sees*, not what it is. Windows are blocks of ``window_tiles`` x
``window_tiles`` tiles of the exhaustive baseline's grid (``tiles``: tile size, mpp, tissue threshold),
encoded by the same encoder, so both methods read identical tiles. The thumbnail-graph part, with the
window geometry and :data:`GRAPH_VERSION`, is hashed into the graph cache key (:meth:`SEWReading.graph_key`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field

from pathfocus.engines.tile_settings import TileSettings
from pathfocus.errors import InputError

# bump when the code that builds graphs changes what it builds: caches made by older code are then not
# reused, and analysing a run trained on older graphs warns (2: coarser SLIC copies, strided window graphs;
# 3: windows are blocks of the baseline's tile grid, read through the shared tile encoder; 4: node
# features without positions)
GRAPH_VERSION = 4
# runs trained on graphs older than this cannot be analysed now (their node features had other columns)
OLDEST_USABLE_GRAPH_VERSION = 4


@dataclass(frozen=True)
class SEWReading:
    """Resolutions in microns per pixel; ``min_gap_um`` between window centres in microns (0: none)."""

    thumbnail_mpp: float = 8.0
    n_superpixels: int = 512
    superpixel_compactness: float = 10.0
    k: int = 8
    window_tiles: int = 1
    min_gap_um: float = 250.0
    tiles: TileSettings = field(default_factory=TileSettings)

    def __post_init__(self) -> None:
        positive = {
            "k": self.k,
            "thumbnail_mpp": self.thumbnail_mpp,
            "n_superpixels": self.n_superpixels,
            "window_tiles": self.window_tiles,
        }
        bad = [name for name, value in positive.items() if value <= 0]
        if bad:
            msg = f"SEW reading settings must be positive: check {', '.join(bad)}"
            raise InputError(msg)
        if self.min_gap_um < 0:
            msg = f"min_gap_um must be >= 0 microns, got {self.min_gap_um}"
            raise InputError(msg)

    @property
    def window_microns(self) -> float:
        """Side of a full window in microns."""
        return self.window_tiles * self.tiles.tile_size * self.tiles.mpp

    def graph_key(self) -> str:
        """A short hash of what shapes a cached thumbnail graph and its windows (a change: a new cache)."""
        values = {
            "thumbnail_mpp": self.thumbnail_mpp,
            "n_superpixels": self.n_superpixels,
            "superpixel_compactness": self.superpixel_compactness,
            "window_tiles": self.window_tiles,
            "tiles": {k: v for k, v in asdict(self.tiles).items() if k in ("tile_size", "mpp", "min_tissue")},
            "graph_version": GRAPH_VERSION,
        }
        return hashlib.sha1(json.dumps(values, sort_keys=True).encode()).hexdigest()[:10]
