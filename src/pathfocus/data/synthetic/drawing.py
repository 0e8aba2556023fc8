"""Vectorised drawing primitives for synthetic H&E patches.

Images are painted as two stain concentration maps, haematoxylin (nuclei, purple) and eosin (stroma and
cytoplasm, pink), and turned into RGB by Beer-Lambert absorption, ``rgb = 255 exp(-(h v_H + e v_E))``:
this is how a brightfield microscope sees a stained section, so colour variation between "labs" is a
change of stain vectors and strengths rather than an arbitrary colour shift (Macenko et al., ISBI 2009).
Every primitive works on whole arrays of shapes at once (numpy, scipy.ndimage), so a 128 px patch takes
a few milliseconds.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

# Optical-density directions measured on typical H&E: nuclei ~ (90, 70, 150) RGB, stroma ~ (230, 150, 190).
_H_OD = np.array([0.60, 0.74, 0.31])
_E_OD = np.array([0.17, 0.86, 0.47])


@dataclass(frozen=True)
class Stain:
    """One lab's staining: unit OD vectors for haematoxylin and eosin and their strengths."""

    h_vector: np.ndarray
    e_vector: np.ndarray
    h_strength: float = 1.0
    e_strength: float = 1.0

    @classmethod
    def typical(cls) -> Stain:
        """The reference H&E stain."""
        return cls(_H_OD / np.linalg.norm(_H_OD), _E_OD / np.linalg.norm(_E_OD))

    def jittered(self, rng: np.random.Generator, amount: float) -> Stain:
        """A stain whose vectors tilt and strengths scale by up to about ``amount`` (0.1 = 10%)."""

        def tilt(vector: np.ndarray) -> np.ndarray:
            moved = np.clip(vector + rng.normal(0.0, amount, 3), 0.02, None)
            return moved / np.linalg.norm(moved)

        return Stain(
            tilt(self.h_vector),
            tilt(self.e_vector),
            self.h_strength * float(np.exp(rng.normal(0.0, amount))),
            self.e_strength * float(np.exp(rng.normal(0.0, amount))),
        )


def compose(h: np.ndarray, e: np.ndarray, stain: Stain, rng: np.random.Generator, blur: float) -> np.ndarray:
    """Stain concentration maps -> uint8 RGB image (with optical blur and a little sensor noise)."""
    if blur > 0:
        h, e = ndimage.gaussian_filter(h, blur), ndimage.gaussian_filter(e, blur)
    h_od = stain.h_vector.astype(np.float32) * stain.h_strength
    e_od = stain.e_vector.astype(np.float32) * stain.e_strength
    od = h[..., None] * h_od + e[..., None] * e_od
    grain = 3.0 * rng.standard_normal(od.shape[:2], dtype=np.float32)  # sensor noise, shared by channels
    rgb = 255.0 * np.exp(-od) + grain[..., None]
    return np.clip(rgb, 0, 255).astype(np.uint8)


def smooth_noise(shape: tuple[int, int], sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Zero-mean, unit-variance noise that varies over about ``sigma`` pixels (texture, tissue fields).

    Small ``sigma`` is a direct Gaussian filter; large ones go through the Fourier domain so any scale
    costs one small FFT.
    """
    white = rng.standard_normal(shape, dtype=np.float32)
    if sigma <= 2:
        noise = ndimage.gaussian_filter(white, max(sigma, 0.5), mode="wrap")
    else:
        noise = np.fft.irfft2(np.fft.rfft2(white) * _gaussian_transfer(shape, round(sigma, 1)), s=shape)
    return ((noise - noise.mean()) / (noise.std() + 1e-8)).astype(np.float32)


@functools.lru_cache(maxsize=64)
def _gaussian_transfer(shape: tuple[int, int], sigma: float) -> np.ndarray:
    fy = np.fft.fftfreq(shape[0])[:, None]
    fx = np.fft.rfftfreq(shape[1])[None, :]
    return np.exp(-2 * (np.pi * sigma) ** 2 * (fy**2 + fx**2)).astype(np.float32)


def fibres(shape: tuple[int, int], period: float, angle: float, rng: np.random.Generator) -> np.ndarray:
    """Wavy parallel bands in [-1, 1]: collagen fibres of stroma, ``period`` pixels apart."""
    yy, xx = np.ogrid[0 : shape[0], 0 : shape[1]]
    warp = 2.5 * smooth_noise(shape, 3 * period, rng)
    phase = (xx * np.cos(angle) + yy * np.sin(angle)) * (2 * np.pi / period)
    return np.sin(phase + warp)


def ellipse_pixels(
    shape: tuple[int, int],
    y: np.ndarray,
    x: np.ndarray,
    ry: np.ndarray,
    rx: np.ndarray,
    theta: np.ndarray,
    irregularity: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pixels covered by many (irregular) ellipses at once.

    Ellipse i has centre (y, x), semi-axes (ry, rx) in pixels, rotation ``theta`` and a boundary whose
    radius wobbles by about ``irregularity`` (2nd and 3rd angular harmonics: nuclear pleomorphism).

    Returns:
        ``(ys, xs, which)``: row, column and ellipse index of every covered pixel (overlaps repeated).
    """
    if len(y) == 0:
        empty = np.zeros(0, dtype=np.intp)
        return empty, empty, empty
    # NOTE: each ellipse is tested over a square box sized for the largest of its batch; batching by
    # size keeps boxes tight when sizes vary (pleomorphic tumour nuclei, lymphocytes beside spindles).
    extent = np.maximum(ry, rx) * (1 + np.abs(irregularity) * 1.5)
    order = np.argsort(extent)
    parts = [
        _ellipse_batch(shape, idx, extent, y, x, ry, rx, theta, irregularity, rng)
        for idx in _size_batches(extent[order], order)
    ]
    ys, xs, which = (np.concatenate(a) for a in zip(*parts, strict=True))
    return ys, xs, which


def _size_batches(sorted_extent: np.ndarray, order: np.ndarray) -> list[np.ndarray]:
    """Split indices (sorted by extent) wherever the extent grows by more than 1.5x."""
    cuts, start = [], 0
    for i in range(1, len(order)):
        if sorted_extent[i] > 1.5 * sorted_extent[start] + 1:
            cuts.append(i)
            start = i
    return np.split(order, cuts)


def _ellipse_batch(
    shape: tuple[int, int],
    idx: np.ndarray,
    extent: np.ndarray,
    y: np.ndarray,
    x: np.ndarray,
    ry: np.ndarray,
    rx: np.ndarray,
    theta: np.ndarray,
    irregularity: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y, x, ry, rx, theta, irregularity = (v[idx] for v in (y, x, ry, rx, theta, irregularity))
    n = len(y)
    f32 = np.float32
    reach = int(np.ceil(np.max(extent[idx]))) + 1
    offsets = np.arange(-reach, reach + 1)
    oy, ox = (a.ravel() for a in np.meshgrid(offsets, offsets, indexing="ij"))
    py = np.floor(y).astype(np.intp)[:, None] + oy[None, :]
    px = np.floor(x).astype(np.intp)[:, None] + ox[None, :]
    dy, dx = (py + 0.5 - y[:, None]).astype(f32), (px + 0.5 - x[:, None]).astype(f32)
    cos, sin = np.cos(theta).astype(f32)[:, None], np.sin(theta).astype(f32)[:, None]
    a = (dx * cos + dy * sin) / rx.astype(f32)[:, None]
    b = (-dx * sin + dy * cos) / ry.astype(f32)[:, None]
    r2 = a * a + b * b
    # boundary radius 1 + A2 cos(2 phi + p2) + A3 cos(3 phi + p3), from cos/sin of phi without arctan2
    c1, s1 = a / np.sqrt(r2 + 1e-12), b / np.sqrt(r2 + 1e-12)
    c2, s2 = c1 * c1 - s1 * s1, 2 * c1 * s1
    c3, s3 = c1 * (4 * c1 * c1 - 3), s1 * (3 - 4 * s1 * s1)
    amp = (irregularity[:, None] * rng.uniform(0.3, 1.0, (n, 2))).astype(f32)
    ph = rng.uniform(0, 2 * np.pi, (n, 2))
    k2c, k2s = (amp[:, 0] * np.cos(ph[:, 0]))[:, None], (amp[:, 0] * np.sin(ph[:, 0]))[:, None]
    k3c, k3s = (amp[:, 1] * np.cos(ph[:, 1]))[:, None], (amp[:, 1] * np.sin(ph[:, 1]))[:, None]
    edge = 1 + k2c * c2 - k2s * s2 + k3c * c3 - k3s * s3
    inside = (r2 < edge * edge) & (py >= 0) & (py < shape[0]) & (px >= 0) & (px < shape[1])
    which = np.broadcast_to(idx[:, None], inside.shape)[inside]
    return py[inside], px[inside], which


def spread_points(
    region: np.ndarray, spacing: float, rng: np.random.Generator, margin: float = 0.0, max_points: int = 4000
) -> tuple[np.ndarray, np.ndarray]:
    """Roughly even points about ``spacing`` pixels apart (jittered hexagonal grid) inside ``region``.

    Points may lie up to ``margin`` pixels outside the image (region checked at the nearest edge pixel),
    so structures centred there are cut by the border as in a real field of view.
    """
    h, w = region.shape
    step = max(spacing, 1.0)
    gy, gx = np.mgrid[-margin : h + margin : step * 0.866, -margin : w + margin : step].astype(np.float64)
    gx[1::2] += step / 2  # hexagonal packing, like crowded cells
    y = gy.ravel() + rng.normal(0, 0.15 * step, gy.size)
    x = gx.ravel() + rng.normal(0, 0.15 * step, gx.size)
    keep = (y >= -margin) & (y < h + margin) & (x >= -margin) & (x < w + margin)
    y, x = y[keep], x[keep]
    keep = region[np.clip(y, 0, h - 1).astype(np.intp), np.clip(x, 0, w - 1).astype(np.intp)]
    y, x = y[keep], x[keep]
    if len(y) > max_points:
        chosen = rng.choice(len(y), max_points, replace=False)
        y, x = y[chosen], x[chosen]
    return y, x


def poisson_centres(
    shape: tuple[int, int], radii: np.ndarray, gap: float, rng: np.random.Generator, tries: int = 60
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Non-overlapping discs (glands, nests): centres for as many of ``radii`` as fit, largest first.

    Returns ``(y, x, which)``: centres of the placed discs and their indices into ``radii``. Centres may
    lie slightly outside the image, so structures are cut by the border as in a real field of view.
    """
    h, w = shape
    ys: list[float] = []
    xs: list[float] = []
    which: list[int] = []
    for i in np.argsort(radii)[::-1]:
        r = radii[i]
        cy = rng.uniform(-0.3 * r, h + 0.3 * r, tries)
        cx = rng.uniform(-0.3 * r, w + 0.3 * r, tries)
        if ys:
            d = np.hypot(cy[:, None] - np.array(ys), cx[:, None] - np.array(xs))
            ok = np.all(d > r + radii[which] + gap, axis=1)
        else:
            ok = np.ones(tries, dtype=bool)
        if ok.any():
            j = int(np.argmax(ok))
            ys.append(cy[j])
            xs.append(cx[j])
            which.append(int(i))
    return np.array(ys), np.array(xs), np.array(which, dtype=np.intp)


def blob_field(
    shape: tuple[int, int],
    y: np.ndarray,
    x: np.ndarray,
    ry: np.ndarray,
    rx: np.ndarray,
    theta: np.ndarray,
    wobble: float,
    rng: np.random.Generator,
    reach: float = 0.0,
) -> np.ndarray:
    """Approximate signed distance (pixels, negative inside) to the nearest of many wobbly ellipses.

    Callers paint lumens (distance < 0), epithelial rims (0 <= distance < t) and stroma from it. Each
    ellipse is evaluated only in its bounding box grown by ``reach`` pixels; farther pixels read +inf.
    """
    field = np.full(shape, np.inf, dtype=np.float32)
    phases = rng.uniform(0, 2 * np.pi, len(y))
    for k in range(len(y)):
        extent = max(ry[k], rx[k]) * (1 + wobble) + reach + 1
        y0, y1 = max(int(y[k] - extent), 0), min(int(y[k] + extent) + 1, shape[0])
        x0, x1 = max(int(x[k] - extent), 0), min(int(x[k] + extent) + 1, shape[1])
        if y0 >= y1 or x0 >= x1:
            continue
        dy = np.arange(y0, y1, dtype=np.float32)[:, None] + 0.5 - y[k]
        dx = np.arange(x0, x1, dtype=np.float32)[None, :] + 0.5 - x[k]
        cos, sin = np.cos(theta[k]), np.sin(theta[k])
        a, b = (dx * cos + dy * sin) / rx[k], (-dx * sin + dy * cos) / ry[k]
        edge = 1 + wobble * np.cos(3 * np.arctan2(b, a) + phases[k])
        distance = (np.sqrt(a * a + b * b) - edge) * min(ry[k], rx[k])
        np.minimum(field[y0:y1, x0:x1], distance, out=field[y0:y1, x0:x1])
    return field


def polyline(
    start: tuple[float, float],
    angle: float,
    length: float,
    bend: float,
    step: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A gently curving path: points ``step`` pixels apart and the direction at each (strands, fronds)."""
    n = max(int(length / step), 2)
    directions = angle + np.cumsum(rng.normal(0, bend, n))
    y = start[0] + np.cumsum(np.sin(directions) * step)
    x = start[1] + np.cumsum(np.cos(directions) * step)
    return y, x, directions


def distance_to_points(shape: tuple[int, int], y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Euclidean distance (pixels) from every pixel to the nearest of the given points inside the image."""
    seeds = np.ones(shape, dtype=bool)
    yi, xi = np.round(y).astype(np.intp), np.round(x).astype(np.intp)
    ok = (yi >= 0) & (yi < shape[0]) & (xi >= 0) & (xi < shape[1])
    seeds[yi[ok], xi[ok]] = False
    if seeds.all():
        return np.full(shape, np.inf, dtype=np.float32)
    return ndimage.distance_transform_edt(seeds).astype(np.float32)
