"""A painting surface for synthetic H&E tissue: stroma, lumens, cytoplasm and nuclei in stain units.

All sizes given to :class:`Canvas` methods are in *tissue units* (about one micron at 100X); the canvas
turns them into pixels with its ``unit`` (pixels per tissue unit), which grows with magnification, so
the same recipe drawn at 400X shows fewer, larger structures than at 40X.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pathfocus.data.synthetic.drawing import Stain, compose, ellipse_pixels, fibres, smooth_noise


@dataclass(frozen=True)
class PatientStyle:
    """What stays the same across one patient's images: the lab's stain and the lesion's habit."""

    stain: Stain
    nucleus_scale: float
    hyperchromasia: float
    cellularity: float
    stroma_eosin: float

    @classmethod
    def draw(cls, rng: np.random.Generator) -> PatientStyle:
        """A random patient: stain tilted ~8%, nuclei +-8% in size, cellularity +-10%."""
        return cls(
            stain=Stain.typical().jittered(rng, 0.08),
            nucleus_scale=float(np.exp(rng.normal(0, 0.07))),
            hyperchromasia=float(np.exp(rng.normal(0, 0.08))),
            cellularity=float(np.exp(rng.normal(0, 0.10))),
            stroma_eosin=float(rng.uniform(0.38, 0.58)),
        )


class Canvas:
    """Stain concentration maps (haematoxylin ``h``, eosin ``e``) plus the mask of lesion nuclei."""

    def __init__(self, size: int, unit: float, style: PatientStyle, rng: np.random.Generator) -> None:
        self.shape = (size, size)
        self.unit = unit
        self.style = style
        self.rng = rng
        self.h = np.zeros(self.shape, dtype=np.float32)
        self.e = np.zeros(self.shape, dtype=np.float32)
        self.mask = np.zeros(self.shape, dtype=bool)
        self._chromatin = smooth_noise(self.shape, 0.8, rng)
        self._texture = smooth_noise(self.shape, 2 * unit, rng)

    def px(self, units: float | np.ndarray) -> float | np.ndarray:
        """Tissue units -> pixels."""
        return units * self.unit

    @property
    def extent(self) -> float:
        """Image side in tissue units."""
        return self.shape[0] / self.unit

    def stroma(self, eosin: float = 1.0, fibre_period: float = 6.0) -> None:
        """Fill everything with fibrous pink stroma (collagen bands ``fibre_period`` units apart)."""
        angle = self.rng.uniform(0, np.pi)
        bands = fibres(self.shape, max(self.px(fibre_period), 4.0), angle, self.rng)
        blotch = smooth_noise(self.shape, self.px(15), self.rng)
        self.e[:] = self.style.stroma_eosin * eosin * (1 + 0.12 * bands + 0.12 * blotch)
        self.h[:] = 0.03
        self.fibre_angle = angle

    def paint(self, region: np.ndarray, h: float, e: float, texture: float = 0.1) -> None:
        """Set the stain in ``region`` (lumen: both ~0, cytoplasm: some eosin, mucin: pale blue)."""
        if texture:
            noise = 1 + texture * self._texture[region]
        else:
            noise = 1.0
        self.h[region] = h * noise
        self.e[region] = e * noise

    def nuclei(
        self,
        y: np.ndarray,
        x: np.ndarray,
        radius: float | np.ndarray,
        aspect: float | np.ndarray = 1.0,
        theta: float | np.ndarray | None = None,
        irregularity: float | np.ndarray = 0.03,
        darkness: float | np.ndarray = 0.9,
        lesion: bool = True,
    ) -> None:
        """Draw nuclei at pixel centres (y, x); ``radius`` is the short semi-axis in tissue units.

        ``lesion`` nuclei (epithelial or tumour cells, the structures that carry the diagnosis) also go
        into the mask; stromal and inflammatory nuclei do not.
        """
        n = len(y)
        if n == 0:
            return
        full = np.ones(n)
        ry = full * self.px(radius) * self.style.nucleus_scale
        rx = ry * aspect
        theta = self.rng.uniform(0, np.pi, n) if theta is None else full * theta
        ys, xs, which = ellipse_pixels(self.shape, y, x, ry, rx, theta, full * irregularity, self.rng)
        dark = (full * darkness * self.style.hyperchromasia)[which]
        self.h[ys, xs] = dark * (1 + 0.18 * self._chromatin[ys, xs])
        self.e[ys, xs] *= 0.45
        if lesion:
            self.mask[ys, xs] = True

    def spindle_cells(self, region: np.ndarray, per_1000: float) -> None:
        """Fibroblast nuclei in ``region``: slender, along the collagen, ``per_1000`` per 1000 unit^2."""
        area = region.sum() / self.unit**2
        n = self.rng.poisson(per_1000 * area / 1000 * self.style.cellularity)
        y, x = self.sample(region, n)
        angle = getattr(self, "fibre_angle", 0.0) + self.rng.normal(0, 0.25, len(y))
        self.nuclei(y, x, 0.75, aspect=3.2, theta=angle, irregularity=0.05, darkness=0.8, lesion=False)

    def lymphocytes(self, region: np.ndarray, per_1000: float) -> None:
        """Small round very dark inflammatory cells scattered in ``region``."""
        area = region.sum() / self.unit**2
        y, x = self.sample(region, self.rng.poisson(per_1000 * area / 1000))
        self.nuclei(y, x, 1.5, aspect=1.05, irregularity=0.04, darkness=1.45, lesion=False)

    def render(self) -> np.ndarray:
        """The finished RGB image (uint8, H x W x 3)."""
        return compose(self.h, self.e, self.style.stain, self.rng, blur=0.6)

    def sample(self, region: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """``n`` random pixel positions (y, x) inside ``region``."""
        ys, xs = np.nonzero(region)
        if len(ys) == 0 or n == 0:
            return np.zeros(0), np.zeros(0)
        pick = self.rng.integers(0, len(ys), n)
        return ys[pick] + self.rng.uniform(0, 1, n), xs[pick] + self.rng.uniform(0, 1, n)
