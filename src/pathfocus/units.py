"""Units and coordinate conventions shared by every module.

Locations are always level-0 pixels of the slide, ``(x, y)`` for a top-left corner and ``(w, h)`` for a
size; resolutions are microns per pixel (``mpp``). Names carry the frame: ``base_*`` is level 0,
``read_*`` is what was actually read from the pyramid.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Region:
    """A rectangle in level-0 pixels with a score (focus, attention or lesion probability)."""

    x: int
    y: int
    w: int
    h: int
    score: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def centre(self) -> tuple[float, float]:
        return (self.x + self.w / 2.0, self.y + self.h / 2.0)
