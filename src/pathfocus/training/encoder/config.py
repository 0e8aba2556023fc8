"""How the default tile encoder is pretrained (a light settings module).

SimCLR (Chen et al., ICML 2020) on tiles of the training slides only: no labels, no test slides, nothing
downloaded. Views are cropped at one fixed scale (nuclear size is diagnostic, so the encoder must not be
taught to ignore it) and differ in flips, right-angle rotations, stain-like colour jitter and blur.
"""

from __future__ import annotations

from dataclasses import dataclass

from pathfocus.errors import InputError


@dataclass(frozen=True)
class SSLSettings:
    """SimCLR pretraining: tiles sampled per training slide, epochs, batch, optimiser, temperature, seed.

    Tiles are read at the tile settings' mpp and size and kept in memory shrunk to the encoder's input size
    (the magnification the encoder sees in use); views are crops of ``crop_fraction`` of that side.
    """

    tiles_per_slide: int = 96
    epochs: int = 15
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 1e-4
    temperature: float = 0.2
    projection_dim: int = 64
    crop_fraction: float = 0.5
    seed: int = 0

    def __post_init__(self) -> None:
        if self.tiles_per_slide < 1 or self.epochs < 1 or self.batch_size < 2:
            msg = (f"SSL needs tiles_per_slide >= 1, epochs >= 1 and batch_size >= 2 (two views of each "
                   f"tile are contrasted with the rest of the batch), got {self.tiles_per_slide}, "
                   f"{self.epochs}, {self.batch_size}")
            raise InputError(msg)
        if not 0.25 <= self.crop_fraction <= 1.0:
            msg = f"crop_fraction must lie in [0.25, 1], got {self.crop_fraction}"
            raise InputError(msg)
