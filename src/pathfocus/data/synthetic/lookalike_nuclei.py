"""Nuclei of the look-alike cohort: vesicular lesion nuclei and clumps of small round nuclei.

Why these two: an 8 um/px thumbnail pixel is the mean transmitted light over 16 x 16 level-0 pixels.
With one stain per nucleus, every colour channel of that mean is the same linear function of the share
of the box that is inked, so two tissues look alike at every channel exactly when their inked share has
the same distribution over boxes. Small nuclei kept visibly apart (a 1 um gap, 2 px at 0.5 um/px) ink
only about half of their clump's footprint, while a solid large nucleus inks nearly all of its own: a
thumbnail then sees clumps as paler-textured (their box variance is lower by about that ratio, whatever
the arrangement; measured 35 % lower pixel std). So the lesion nuclei are vesicular, as tumour nuclei
often are: ink on a thick membrane, coarse chromatin granules and a nucleolus, clear nucleoplasm between,
with the inked share tuned to the clump's. Darker small nuclei would be the other way to balance it but
not linearly (each channel saturates differently; it left 5-20 % per-channel errors). Both kinds
are painted with hard edges, so that every pixel is nucleus or background and a thumbnail pixel an
exact mix of the two (a soft rim's half-stained pixels are no such mix, and clumps have about twice
the rim per ink of a lesion nucleus).

What a thumbnail box sees of a site is then its ink and the footprint it is spread over. A clump takes
the outline of the lesion nucleus it replaces (its nuclei are the lattice points nearest the site in
the outline's own metric), and as many nuclei as the outline's ink calls for, rounded at random.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from pathfocus.data.synthetic.slide_render import EllipseFrames, wavy_radius

HEX_RINGS = 4


@lru_cache(maxsize=1)
def hex_points() -> np.ndarray:
    """Points of a unit-spacing hexagonal lattice near the origin, (P, 2) as (x, y)."""
    j, i = np.mgrid[-HEX_RINGS : HEX_RINGS + 1, -HEX_RINGS : HEX_RINGS + 1]
    points = np.stack([i + 0.5 * (j % 2), j * np.sqrt(3) / 2], axis=-1).reshape(-1, 2)
    points = points[np.hypot(*points.T) <= HEX_RINGS - 0.5]
    points.flags.writeable = False
    return points


@lru_cache(maxsize=8)
def clump_reach(count: int, aspect: float) -> float:
    """Farthest centre of a ``count`` clump from the site, in lattice spacings, for outlines of ``aspect``.

    The worst case over a grid of lattice shifts and turns (the outline's own angle only turns it).
    """
    grid = np.linspace(-0.5, 0.5, 9)
    origin = np.stack(np.meshgrid(grid, grid * np.sqrt(3) / 2), axis=-1).reshape(-1, 2)
    origin = np.repeat(origin, 12, axis=0)
    turn = np.tile(np.linspace(0, np.pi / 3, 12, endpoint=False), 81)
    ones = np.ones(len(origin))
    params = [ones, np.full(len(origin), aspect), np.zeros(len(origin))]
    dx, dy, used = stencil_offsets(params, np.full(len(origin), count), origin, turn, 1.0)
    return float(np.hypot(dx, dy)[used].max())


def stencil_offsets(
    params: list[np.ndarray], count: np.ndarray, origin: np.ndarray, turn: np.ndarray, spacing: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centres of ``count`` small nuclei laid out in the shape of each site's would-be lesion nucleus.

    ``params`` are the lesion nuclei's (major, minor, angle) per site. Of a hexagonal lattice of
    ``spacing`` pixels, shifted by ``origin`` (N, 2, lattice units) and turned by ``turn`` radians, the
    ``count`` points nearest the site in the nucleus outline's own metric are taken and centred: an
    elongated nucleus becomes an elongated clump along the same axis, so both kinds spread their ink
    over the same footprints. Returns ``(dx, dy, used)`` in pixels, each (N, P) over lattice points.
    """
    major, minor, angle = params
    points = hex_points()[None] + origin[:, None]
    cos_t, sin_t = np.cos(turn)[:, None], np.sin(turn)[:, None]
    dx = spacing * (points[..., 0] * cos_t - points[..., 1] * sin_t)
    dy = spacing * (points[..., 0] * sin_t + points[..., 1] * cos_t)
    cos_a, sin_a = np.cos(angle)[:, None], np.sin(angle)[:, None]
    u = (dx * cos_a + dy * sin_a) / major[:, None]
    v = (-dx * sin_a + dy * cos_a) / minor[:, None]
    rank = np.argsort(np.argsort(u * u + v * v, axis=1), axis=1)
    used = rank < count[:, None]
    centre_x = (dx * used).sum(axis=1) / np.maximum(count, 1)
    centre_y = (dy * used).sum(axis=1) / np.maximum(count, 1)
    return dx - centre_x[:, None], dy - centre_y[:, None], used


def solid_patches(
    cx: np.ndarray, cy: np.ndarray, params: list[np.ndarray]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hard-edged ellipses (every pixel all nucleus or none), as (N, S, S) patches and top-left pixels.

    ``params`` are (major, minor, angle, stain, phase) per nucleus, in pixels and radians.
    """
    major, minor, angle, stain, _ = params
    size = 2 * int(np.ceil(float(major.max()))) + 4
    frames = EllipseFrames.around(cx, cy, major, minor, angle, size)
    inside = frames.u * frames.u + frames.v * frames.v < 1.0
    return inside * stain.astype(np.float32)[:, None, None], frames.tops, frames.lefts


def vesicular_patches(
    cx: np.ndarray,
    cy: np.ndarray,
    params: list[np.ndarray],
    irregular: float,
    membrane: float,
    nucleolus: float,
    granules: np.ndarray,
    origin: tuple[int, int],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Wavy hard-edged ellipses (the base renderer's outline) inked only at the rim, granules and nucleolus.

    ``params`` are (major, minor, angle, stain, phase) per nucleus; ``membrane`` and ``nucleolus`` are in
    pixels; ``granules`` is a periodic boolean texture looked up at level-0 position (canvas pixel plus
    ``origin``), so neighbouring tiles agree. Returns (N, S, S) patches and their top-left canvas pixels.
    """
    major, minor, angle, stain, phase = params
    size = 2 * int(np.ceil(float(major.max()) * (1 + irregular) + 1.5)) + 2
    frames = EllipseFrames.around(cx, cy, major, minor, angle, size)
    radius = wavy_radius(frames, phase, irregular)
    dx, dy, tops, lefts = frames.dx, frames.dy, frames.tops, frames.lefts
    ph = phase.astype(np.float32)[:, None, None]
    b = minor.astype(np.float32)[:, None, None]
    depth = (1.0 - radius) * np.hypot(dx, dy) / np.maximum(radius, 1e-3)  # pixels in from the outline
    offset = 0.35 * b
    core = np.hypot(dx - offset * np.cos(ph), dy - offset * np.sin(ph)) < nucleolus
    period = granules.shape[0]
    rows = (origin[1] + tops[:, None] + np.arange(size)[None, :]) % period
    cols = (origin[0] + lefts[:, None] + np.arange(size)[None, :]) % period
    inked = (depth < membrane) | core | granules[rows[:, :, None], cols[:, None, :]]
    return (radius < 1.0) * inked * stain.astype(np.float32)[:, None, None], tops, lefts
