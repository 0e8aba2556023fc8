"""What analysing one slide produces, shared by SEW and the exhaustive baseline.

Both analysers return a :class:`SlideAnalysis`, so ``pathfocus analyze``, the benchmark and the report
treat them the same way and compare like with like (seconds include reading; ``pixels_read`` counts
high-magnification pixels only).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from pathfocus.units import Region


@dataclass
class SlideAnalysis:
    """The result of analysing one slide (regions in level-0 pixels)."""

    slide_id: str
    class_names: list[str]
    probabilities: list[float]
    regions: list[Region]
    seconds: float
    pixels_read: int
    thumbnail: np.ndarray  # H x W x 3 uint8, at ``thumbnail_mpp``
    thumbnail_mpp: float
    heatmap: np.ndarray  # H x W float32 in [0, 1] on the thumbnail grid (focus or attention)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return self.class_names[int(np.argmax(self.probabilities))]

    def to_json(self) -> dict[str, Any]:
        """The per-slide JSON document (keys are a public contract, see docs/design.md section 7)."""
        return {
            "slide_id": self.slide_id,
            "label": self.label,
            "class_names": list(self.class_names),
            "probabilities": [float(p) for p in self.probabilities],
            "regions": [region.to_dict() for region in self.regions],
            "seconds": float(self.seconds),
            "pixels_read": int(self.pixels_read),
            "thumbnail_mpp": float(self.thumbnail_mpp),
            **self.extra,
        }


class SlideAnalyzer(Protocol):
    """Anything that turns a slide file into a :class:`SlideAnalysis` (SEW, the MIL baseline)."""

    def analyze(self, slide_path: Path) -> SlideAnalysis: ...
