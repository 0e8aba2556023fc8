"""Which tiles the exhaustive baseline reads and how it feeds them to the encoder (a light settings module).

``tile_size``, ``mpp`` and ``min_tissue`` decide which pixels are read and so key the feature cache;
``batch_size`` and ``num_workers`` only decide how fast.
"""

from __future__ import annotations

from dataclasses import dataclass

from pathfocus.devices import default_loader_workers

# tissue is found on a thumbnail of this resolution before tiling, by every tile user alike (the baseline,
# SEW's windows, SSL sampling), so they all keep exactly the same tiles
TISSUE_MPP = 8.0


@dataclass(frozen=True)
class TileSettings:
    """Which tiles the baseline reads and how it feeds them to the encoder (saved in the run config)."""

    tile_size: int = 256
    mpp: float = 0.5
    min_tissue: float = 0.5
    batch_size: int = 64
    num_workers: int | None = None  # reader processes decoding tiles while the encoder runs (None: machine)

    @property
    def workers(self) -> int:
        """``num_workers``, or the machine's default (one core left to the encoder)."""
        return default_loader_workers() if self.num_workers is None else int(self.num_workers)
