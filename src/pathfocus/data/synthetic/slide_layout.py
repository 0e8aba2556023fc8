"""The low-resolution plan of a synthetic slide: where tissue, holes, lesions and pattern P lie.

Fields live on a grid of ``LAYOUT_DOWNSAMPLE`` level-0 pixels per cell (8 um at 0.5 um/px, the same grid
as the slide's 8 um/px pyramid level), as smooth signed values (> 0 = inside) so the renderer can
interpolate them to level 0 without blocky edges. The ground-truth masks are the same fields
thresholded at 0, so tests compare detection against exactly what was drawn.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

LAYOUT_DOWNSAMPLE = 16


@dataclass
class SlideLayout:
    """Signed fields at layout resolution (H/16, W/16); each > 0 where its structure is."""

    tissue: np.ndarray  # tissue outline, holes cut out
    lesion: np.ndarray  # lesion regions (all <= 0 on negative slides)
    pattern: np.ndarray  # pattern P (lymphocyte-like clusters)

    @property
    def tissue_mask(self) -> np.ndarray:
        return self.tissue > 0

    @property
    def lesion_mask(self) -> np.ndarray:
        return self.tissue_mask & (self.lesion > 0)

    @property
    def pattern_mask(self) -> np.ndarray:
        return self.tissue_mask & (self.pattern > 0) & ~(self.lesion > 0)

    def fractions(self) -> dict[str, float]:
        """Tissue share of the slide; lesion and pattern shares of the tissue."""
        tissue = self.tissue_mask
        area = max(int(tissue.sum()), 1)
        return {
            "tissue_fraction": float(tissue.mean()),
            "lesion_fraction": float(self.lesion_mask.sum() / area),
            "pattern_fraction": float(self.pattern_mask.sum() / area),
        }


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    """Gaussian-filtered white noise scaled to unit standard deviation.

    Wide filters run on a coarser grid and are interpolated back (same look, a fraction of the cost).
    """
    step = max(1, int(sigma // 3))
    coarse = (shape[0] // step + 3, shape[1] // step + 3)
    field = ndimage.gaussian_filter(rng.standard_normal(coarse), sigma=max(sigma / step, 0.5), mode="wrap")
    if step > 1:
        field = ndimage.zoom(field, step, order=1)
    field = field[: shape[0], : shape[1]]
    return field / max(float(field.std()), 1e-9)


def _bumps(rng: np.random.Generator, within: np.ndarray, count: int, radius: float) -> np.ndarray:
    """Max of ``count`` Gaussian bumps of ``radius`` centred on random ``within`` pixels."""
    rows, cols = np.nonzero(within)
    field = np.zeros(within.shape)
    if rows.size == 0:
        return field
    grid_r, grid_c = np.ogrid[0 : within.shape[0], 0 : within.shape[1]]  # broadcast: no full index grids
    for pick in rng.choice(rows.size, size=count):
        d2 = (grid_r - rows[pick]) ** 2 + (grid_c - cols[pick]) ** 2
        bump = d2 / -(2.0 * radius**2)  # exactly -d2 / (2 r^2), one temporary fewer
        del d2
        np.maximum(field, np.exp(bump, out=bump), out=field)
    return field


def _threshold_share(field: np.ndarray, within: np.ndarray, share: float) -> np.ndarray:
    """Shift ``field`` so that ``share`` of the ``within`` pixels are > 0 (and none outside)."""
    values = field[within]
    if share <= 0 or values.size == 0:
        return np.full(field.shape, -100.0)  # far below 0: edge roughening never makes it appear
    cut = float(np.quantile(values, 1.0 - min(share, 1.0)))
    del values
    shifted = field - cut
    outside = np.minimum(shifted, -1e-3)
    outside -= 1.0
    np.copyto(shifted, outside, where=~within)  # np.where(within, ...) without its temporaries
    return shifted


def make_layout(
    rng: np.random.Generator,
    shape: tuple[int, int],
    tissue_share: float,
    lesion_share: float,
    pattern_share: float,
    hole_share: float = 0.03,
) -> SlideLayout:
    """Random tissue pieces covering ``tissue_share`` of the slide, lesions and pattern P in the tissue."""
    scale = min(shape)
    tissue = cut_holes(rng, tissue_outline(rng, shape, tissue_share), hole_share)
    inside = tissue > 0
    n_lesions = int(rng.integers(1, 4))
    radius = max(2.0, float(np.sqrt(max(lesion_share, 0.01) * inside.sum() / (n_lesions * np.pi))))
    lesion_field = _bumps(rng, inside, n_lesions, radius) + 0.12 * _smooth_noise(rng, shape, scale / 40)
    lesion = _threshold_share(lesion_field, inside, lesion_share)
    pattern = pattern_field(rng, inside & (lesion <= 0), pattern_share)
    return SlideLayout(tissue=_unit_slope(tissue), lesion=_unit_slope(lesion), pattern=_unit_slope(pattern))


def tissue_outline(rng: np.random.Generator, shape: tuple[int, int], tissue_share: float) -> np.ndarray:
    """Signed field of 1-3 smooth tissue pieces covering ``tissue_share`` of the slide (no holes yet)."""
    height, width = shape
    rows, cols = np.ogrid[0:height, 0:width]  # broadcast: a large slide's layout needs no full index grids
    scale = min(height, width)
    blobs = np.zeros(shape)
    for _ in range(int(rng.integers(1, 4))):
        cy, cx = rng.uniform(0.3, 0.7, size=2) * (height, width)
        ry, rx = rng.uniform(0.18, 0.32, size=2) * scale
        angle = rng.uniform(0, np.pi)
        du, dv = cols - cx, rows - cy
        # NOTE: in place, so a large slide's layout holds three full fields here, not nine (same values)
        u = du * np.cos(angle) + dv * np.sin(angle)
        u /= rx
        v = -du * np.sin(angle) + dv * np.cos(angle)
        v /= ry
        u *= u
        v *= v
        u += v
        del v
        np.maximum(blobs, np.exp(np.negative(u, out=u), out=u), out=blobs)
        del u
    # NOTE: glass around the section, as on a real slide: a smooth penalty pulls tissue off the edges
    to_edge = np.minimum(np.minimum(rows, height - 1 - rows), np.minimum(cols, width - 1 - cols))
    edge = 1.0 - to_edge / max(scale * 0.08, 2.0)
    del to_edge
    np.clip(edge, 0.0, 1.0, out=edge)
    edge *= 2.0
    outline = _smooth_noise(rng, shape, scale / 16)
    outline *= 0.25
    outline += blobs
    outline -= edge
    return _threshold_share(outline, np.ones(shape, bool), tissue_share)


def cut_holes(
    rng: np.random.Generator, tissue: np.ndarray, hole_share: float, keep: np.ndarray | None = None
) -> np.ndarray:
    """Cut small holes (``hole_share`` of the tissue) out of the signed ``tissue`` field, none in ``keep``."""
    scale = min(tissue.shape)
    within = tissue > 0 if keep is None else (tissue > 0) & ~keep
    holes = _threshold_share(_smooth_noise(rng, tissue.shape, max(1.0, scale / 60)), within, hole_share)
    return np.minimum(tissue, -holes) if hole_share > 0 else tissue


def pattern_field(rng: np.random.Generator, within: np.ndarray, pattern_share: float) -> np.ndarray:
    """Signed field of pattern P: patchy clusters over ``pattern_share`` of the ``within`` cells."""
    shape = within.shape
    scale = min(shape)
    field = _smooth_noise(rng, shape, max(1.0, scale / 50)) + 0.6 * _smooth_noise(rng, shape, scale / 12)
    return _threshold_share(field, within, pattern_share)


def _unit_slope(field: np.ndarray) -> np.ndarray:
    """Rescale so the field rises about 1 per layout cell across its 0 contour (a signed-distance feel).

    The renderer roughens edges by adding noise to the field; with a known slope the roughness has the
    same width (in microns) on every slide and structure.
    """
    near = np.abs(field) < 0.5 * float(np.abs(field).std() + 1e-9)
    slope = np.hypot(*np.gradient(field))[near]
    if slope.size == 0 or not np.any(field > 0):
        return field.astype(np.float32)
    return (field / max(float(np.median(slope)), 1e-6)).astype(np.float32)


def empty_layout(shape: tuple[int, int]) -> SlideLayout:
    """A blank slide (glass only), for testing the no-tissue path."""
    blank = np.full(shape, -100.0, np.float32)  # far below 0, so edge roughening never reaches it
    return SlideLayout(tissue=blank, lesion=blank.copy(), pattern=blank.copy())
