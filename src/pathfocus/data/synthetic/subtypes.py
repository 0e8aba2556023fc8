"""Drawing recipes for the eight BreakHis subtypes, after their textbook histology.

Benign lesions (A, F, PT, TA) keep orderly architecture: glands and ducts whose lumens are lined by one
layer of small, round, uniform epithelial nuclei over a rim of flat myoepithelial cells. Malignant ones
(DC, LC, MC, PC) lose it: ductal carcinoma fills nests with large, crowded, pleomorphic, dark nuclei;
lobular carcinoma infiltrates the stroma in single files of discohesive cells; mucinous carcinoma floats
tumour clusters in pale mucin; papillary carcinoma lines branching fibrovascular fronds with stratified
columnar nuclei. These cues (nuclear size, density, shape, arrangement) are what a CNN has to learn;
stain and size habits vary per patient (:class:`PatientStyle`), so it must generalise across patients.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from pathfocus.data.synthetic.drawing import (
    blob_field,
    distance_to_points,
    poisson_centres,
    polyline,
    smooth_noise,
    spread_points,
)
from pathfocus.data.synthetic.tissue import Canvas

BENIGN_NUCLEUS = 2.0  # tissue units (short semi-axis); malignant nuclei are 1.5-1.8x larger


def glands(
    c: Canvas, y: np.ndarray, x: np.ndarray, short: np.ndarray, ratio: np.ndarray, rim: float
) -> np.ndarray:
    """Benign glands or ducts: white lumens lined by cuboidal epithelium over flat myoepithelium.

    Centres (y, x) in pixels; ``short`` lumen semi-axes, ``ratio`` long/short and ``rim`` the epithelial
    thickness in units. Returns the mask of pixels that belong to glands (lumen and rim).
    """
    rng = c.rng
    theta = rng.uniform(0, np.pi, len(y))
    ry, rx, rim_px = c.px(short), c.px(short * ratio), c.px(rim)
    field = blob_field(c.shape, y, x, ry, rx, theta, 0.06, rng, reach=rim_px)
    c.paint((field >= 0) & (field < rim_px), h=0.07, e=0.30)
    c.paint(field < 0, h=0.0, e=0.03, texture=0.3)
    spacing = c.px(2.3 * BENIGN_NUCLEUS)
    # (position across the rim, radius, aspect, darkness, turn): epithelium radial, myoepithelium flat
    for offset, size, asp, dark, turn in ((0.5, BENIGN_NUCLEUS, 1.15, 0.85, 0.0), (1.0, 1.3, 2.3, 0.95, 1.0)):
        a, b = rx + offset * rim_px, ry + offset * rim_px
        counts = np.maximum(
            (2 * np.pi * np.sqrt((a * a + b * b) / 2) / (spacing * (1 + turn))).astype(int), 3
        )
        k = np.repeat(np.arange(len(y)), counts)
        step = np.concatenate([np.arange(n) / n for n in counts]) if len(counts) else np.zeros(0)
        phi = 2 * np.pi * step + rng.uniform(0, 2 * np.pi, len(y))[k]
        u, v = a[k] * np.cos(phi), b[k] * np.sin(phi)
        cos, sin = np.cos(theta[k]), np.sin(theta[k])
        ny = y[k] + u * sin + v * cos + rng.normal(0, 0.3, len(k))
        nx = x[k] + u * cos - v * sin + rng.normal(0, 0.3, len(k))
        angle = np.arctan2(ny - y[k], nx - x[k]) + turn * np.pi / 2
        ok = _inside(c, ny, nx) & (field[_clip(c, ny), _clip(c, nx)] >= -0.5)
        c.nuclei(ny[ok], nx[ok], size, aspect=asp, theta=angle[ok], irregularity=0.03, darkness=dark)
    return field < rim_px


def sheet(c: Canvas, region: np.ndarray, radius: float, pleomorphism: float, darkness: float) -> None:
    """Malignant cells crowded in ``region``: large, variable, irregular, hyperchromatic nuclei."""
    c.paint(region, h=0.13, e=0.27)
    y, x = spread_points(region, c.px(2.25 * radius) / np.sqrt(c.style.cellularity), c.rng)
    n = len(y)
    rng = c.rng
    sizes = radius * np.exp(rng.normal(0, pleomorphism, n))
    c.nuclei(
        y,
        x,
        sizes,
        aspect=1 + np.abs(rng.normal(0, 0.3, n)),
        irregularity=rng.uniform(0.08, 0.2, n),
        darkness=darkness * np.exp(rng.normal(0, 0.15, n)),
    )


def packed_glands(
    c: Canvas,
    lumen: tuple[float, float],
    aspect: tuple[float, float],
    rim: float,
    gap: float,
    region: np.ndarray,
) -> np.ndarray:
    """Glands crowded on a jittered grid over ``region`` (their sizes vary within the grid spacing)."""
    spacing = 2 * (np.mean(lumen) * np.mean(aspect) + rim) + gap
    y, x = spread_points(region, c.px(spacing), c.rng, margin=c.px(spacing / 2))
    short, ratio = c.rng.uniform(*lumen, len(y)), c.rng.uniform(*aspect, len(y))
    return glands(c, y, x, short, ratio, rim)


def adenosis(c: Canvas) -> None:
    """Lobules of many small, crowded, compressed glands in cellular stroma."""
    c.stroma()
    radius = c.px(c.extent * 0.45)
    cy, cx = c.rng.uniform(0.3, 0.7, 2) * c.shape[0]
    lobule = blob_field(c.shape, *_arrays(cy, cx, 0.8 * radius, radius, c.rng.uniform(0, np.pi)), 0.15, c.rng)
    packed_glands(c, lumen=(1.0, 2.2), aspect=(1.3, 2.2), rim=4.0, gap=3.0, region=lobule < 0)
    c.spindle_cells(np.ones(c.shape, bool), 4)


def fibroadenoma(c: Canvas) -> None:
    """Abundant pale stroma compressing a few ducts into long slits."""
    c.stroma(eosin=0.8, fibre_period=8.0)
    count = 5
    short, ratio = c.rng.uniform(0.8, 2.0, count), c.rng.uniform(5.0, 12.0, count)
    y, x, which = poisson_centres(c.shape, c.px(short * ratio + 4.5), c.px(6.0), c.rng)
    duct = glands(c, y, x, short[which], ratio[which], rim=4.5)
    c.spindle_cells(~duct, 3)
    c.lymphocytes(~duct, 0.3)


def phyllodes_tumor(c: Canvas) -> None:
    """Leaf-like clefts lined by epithelium in hypercellular spindle-cell stroma."""
    c.stroma(eosin=1.05, fibre_period=5.0)
    ys, xs = _paths(c, 2, bend=0.12)
    dist = distance_to_points(c.shape, ys, xs)
    cleft, rim = c.px(1.5), c.px(4.5)
    c.paint((dist >= cleft) & (dist < cleft + rim), h=0.07, e=0.30)
    c.paint(dist < cleft, h=0.0, e=0.03)
    c.spindle_cells(dist >= cleft + rim, 14)
    _line_nuclei(c, ys, xs, cleft + rim * 0.5, BENIGN_NUCLEUS, 1.15, 0.85)


def tubular_adenoma(c: Canvas) -> None:
    """Closely packed, uniform round tubules with little stroma between them."""
    c.stroma(eosin=0.9)
    packed_glands(c, lumen=(2.0, 3.5), aspect=(1.0, 1.3), rim=4.5, gap=1.0, region=np.ones(c.shape, bool))
    c.spindle_cells(np.ones(c.shape, bool), 2)


def ductal_carcinoma(c: Canvas) -> None:
    """Irregular nests and sheets of large pleomorphic cells in desmoplastic stroma."""
    c.stroma(eosin=1.1, fibre_period=4.0)
    count = int(c.rng.integers(2, 5))
    radii = c.px(c.extent * c.rng.uniform(0.18, 0.35, count))
    y, x, which = poisson_centres(c.shape, radii, c.px(3), c.rng)
    r = radii[which]
    angle = c.rng.uniform(0, np.pi, len(r))
    nests = blob_field(c.shape, y, x, r * c.rng.uniform(0.7, 1.0, len(r)), r, angle, 0.25, c.rng) < 0
    sheet(c, nests, radius=3.4, pleomorphism=0.22, darkness=1.25)
    c.lymphocytes(~nests, 2.0)
    c.spindle_cells(~nests, 3)


def lobular_carcinoma(c: Canvas) -> None:
    """Single files and scattered single discohesive dark cells infiltrating the stroma."""
    c.stroma(eosin=0.95)
    radius = 3.0
    count = max(int(c.extent**2 / 1800 * c.style.cellularity), 3)
    ys, xs = _paths(c, count, bend=0.08, step=2.3 * radius)
    loose_y, loose_x = c.sample(np.ones(c.shape, bool), c.rng.poisson(3 * c.extent**2 / 1000))
    ys, xs = np.concatenate([ys, loose_y]), np.concatenate([xs, loose_x])
    keep = _inside(c, ys, xs)
    ys, xs = ys[keep], xs[keep]
    halo = distance_to_points(c.shape, ys, xs) < c.px(radius * 1.6)
    c.paint(halo, h=0.1, e=0.24)
    n = len(ys)
    c.nuclei(ys, xs, radius * np.exp(c.rng.normal(0, 0.1, n)), aspect=1.15, irregularity=0.08, darkness=1.35)
    c.lymphocytes(~halo, 1.0)


def mucinous_carcinoma(c: Canvas) -> None:
    """Lakes of pale blue-grey mucin, split by thin septa, with floating clusters of tumour cells."""
    c.stroma(eosin=1.0)
    septa = np.abs(smooth_noise(c.shape, c.px(25), c.rng)) < 0.12
    c.paint(~septa, h=0.24, e=0.05, texture=0.35)
    count = int(c.rng.integers(5, 11))
    radii = c.px(c.rng.uniform(6, 14, count))
    y, x, which = poisson_centres(c.shape, radii, c.px(4), c.rng)
    r = radii[which]
    angle = c.rng.uniform(0, np.pi, len(r))
    clusters = blob_field(c.shape, y, x, r, r * c.rng.uniform(1.0, 1.6, len(r)), angle, 0.3, c.rng) < 0
    sheet(c, clusters, radius=3.2, pleomorphism=0.18, darkness=1.3)


def papillary_carcinoma(c: Canvas) -> None:
    """Branching fibrovascular fronds lined by stratified columnar tumour cells, floating in a lumen."""
    c.stroma(eosin=1.0)
    ys, xs = _paths(c, 3, bend=0.1)
    dist = distance_to_points(c.shape, ys, xs)
    core, epithelium = c.px(3.0), c.px(3.0 + 10.0)
    c.paint(dist >= epithelium, h=0.01, e=0.06, texture=0.3)
    c.paint((dist >= core) & (dist < epithelium), h=0.12, e=0.26)
    c.spindle_cells(dist < core, 6)
    for row in range(3):
        _line_nuclei(c, ys, xs, core + c.px(1.9 + 3.4 * row), 1.9, 1.9, 1.3, pleomorphism=0.12)


RECIPES: dict[str, Callable[[Canvas], None]] = {
    "A": adenosis,
    "F": fibroadenoma,
    "PT": phyllodes_tumor,
    "TA": tubular_adenoma,
    "DC": ductal_carcinoma,
    "LC": lobular_carcinoma,
    "MC": mucinous_carcinoma,
    "PC": papillary_carcinoma,
}


def _line_nuclei(
    c: Canvas,
    ys: np.ndarray,
    xs: np.ndarray,
    offset: float,
    radius: float,
    aspect: float,
    darkness: float,
    pleomorphism: float = 0.05,
) -> None:
    """Nuclei on both sides of a path, ``offset`` pixels away, long axis across the path (columnar)."""
    step = max(round(2.3 * radius), 1)  # paths are sampled every unit; one nucleus per 2.3 radii
    y, x = ys[::step], xs[::step]
    direction = np.arctan2(np.gradient(ys)[::step], np.gradient(xs)[::step])
    normal = direction + np.pi / 2
    for side in (-1, 1):
        ny = y + side * offset * np.sin(normal) + c.rng.normal(0, 0.4, len(y))
        nx = x + side * offset * np.cos(normal) + c.rng.normal(0, 0.4, len(y))
        ok = _inside(c, ny, nx)
        sizes = radius * np.exp(c.rng.normal(0, pleomorphism, ok.sum()))
        c.nuclei(ny[ok], nx[ok], sizes, aspect=aspect, theta=normal[ok], irregularity=0.05, darkness=darkness)


def _paths(c: Canvas, count: int, bend: float, step: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """``count`` curving paths across the image, sampled every ``step`` units."""
    ys, xs = [], []
    for _ in range(count):
        start = (c.rng.uniform(0, c.shape[0]), c.rng.uniform(0, c.shape[1]))
        angle = c.rng.uniform(0, 2 * np.pi)
        for direction in (angle, angle + np.pi):  # grow both ways so paths cross the field
            y, x, _ = polyline(start, direction, 1.2 * c.shape[0], bend, c.px(step), c.rng)
            ys.append(y)
            xs.append(x)
    return np.concatenate(ys), np.concatenate(xs)


def _arrays(*values: float) -> tuple[np.ndarray, ...]:
    return tuple(np.array([v], dtype=np.float64) for v in values)


def _inside(c: Canvas, y: np.ndarray, x: np.ndarray) -> np.ndarray:
    return (y >= 0) & (y < c.shape[0]) & (x >= 0) & (x < c.shape[1])


def _clip(c: Canvas, v: np.ndarray) -> np.ndarray:
    """Pixel indices clipped into the (square) canvas."""
    return np.clip(v, 0, c.shape[0] - 1).astype(np.intp)
