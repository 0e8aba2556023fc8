"""Render level-0 tiles of a synthetic H&E slide from its layout, one tile at a time.

Colour follows Beer-Lambert with stain vectors (Ruifrok & Johnston): every pixel holds hematoxylin and
eosin concentrations, ``rgb = 255 * exp(-(H * h_vec + E * e_vec + glass))``, so ``rgb2hed`` recovers the
stains. Stroma is eosin with collagen-like fibres and sparse spindle nuclei; lesions are crowded, large,
pleomorphic, dark nuclei; pattern P is dense clusters of small round very dark (lymphocyte-like) nuclei.

Everything is a deterministic function of level-0 position, so tiles meet without seams: textures are
periodic per slide, and nuclei come from a grid of cells whose random draws hash (cell, slide seed).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pathfocus.data.synthetic.slide_layout import LAYOUT_DOWNSAMPLE, SlideLayout
from pathfocus.errors import InputError

TEXTURE_PERIOD = 512  # 256 um at 0.5 um/px: repeats are lost among the nuclei
MAX_TILE = 512  # largest tile the renderer is asked for
MARGIN_UM = 14.0  # the largest nucleus reaches this far out of its cell
EDGE_UM = 3.0  # roughness of tissue, lesion and pattern outlines
H_VECTOR = np.array([0.65, 0.70, 0.29])
E_VECTOR = np.array([0.07, 0.99, 0.11])
GLASS_OD = 0.04


@dataclass(frozen=True)
class NucleusKind:
    """How one kind of cell nucleus looks, in microns and stain concentration."""

    grid_um: float  # cell spacing of the grid it is drawn from
    presence: float  # chance that a cell of its region holds one
    major_um: float  # semi-axis
    aspect: tuple[float, float]  # minor / major range
    size_cv: float  # pleomorphism: relative spread of the size
    stain: float  # hematoxylin concentration at the centre
    irregular: float  # amplitude of the wavy outline
    stray: float = 0.0  # chance per cell in plain stroma (a few lymphocytes are everywhere)


def lesion_kind(severity: float) -> NucleusKind:
    """Tumour-like nuclei; ``severity`` in [0, 1] makes them larger, darker, more variable, more crowded."""
    s = float(np.clip(severity, 0.0, 1.0))
    return NucleusKind(
        grid_um=16.0,
        presence=0.7 + 0.25 * s,
        major_um=4.2 + 2.5 * s,
        aspect=(0.65, 1.0),
        size_cv=0.1 + 0.25 * s,
        stain=1.25 + 0.6 * s,
        irregular=0.04 + 0.12 * s,
    )


STROMA = NucleusKind(
    grid_um=16.0, presence=0.22, major_um=5.0, aspect=(0.25, 0.4), size_cv=0.15, stain=1.1, irregular=0.0
)
LYMPHOCYTE = NucleusKind(
    grid_um=7.5,
    presence=0.85,
    major_um=3.1,
    aspect=(0.85, 1.0),
    size_cv=0.08,
    stain=2.2,
    irregular=0.0,
    stray=0.02,
)
GLASS, STROMA_REGION, LESION_REGION, PATTERN_REGION = 0, 1, 2, 3


@dataclass
class SlideStyle:
    """Per-slide appearance: stain vectors and strengths, fibre direction, lesion morphology."""

    seed: int
    mpp: float = 0.5
    h_vector: np.ndarray = field(default_factory=lambda: H_VECTOR / np.linalg.norm(H_VECTOR))
    e_vector: np.ndarray = field(default_factory=lambda: E_VECTOR / np.linalg.norm(E_VECTOR))
    h_scale: float = 1.0
    e_scale: float = 1.0
    fibre_angle: float = 0.0
    lesion: NucleusKind = field(default_factory=lambda: lesion_kind(0.6))

    @classmethod
    def random(cls, rng: np.random.Generator, mpp: float, severity: float) -> SlideStyle:
        """Stain variation between slides, as between labs and scanners."""
        h_vec = H_VECTOR + rng.normal(0, 0.04, 3)
        e_vec = E_VECTOR + rng.normal(0, 0.04, 3)
        return cls(
            seed=int(rng.integers(0, 2**31 - 1)),
            mpp=mpp,
            h_vector=np.abs(h_vec) / np.linalg.norm(h_vec),
            e_vector=np.abs(e_vec) / np.linalg.norm(e_vec),
            h_scale=float(rng.uniform(0.85, 1.15)),
            e_scale=float(rng.uniform(0.8, 1.2)),
            fibre_angle=float(rng.uniform(0, np.pi)),
            lesion=lesion_kind(severity),
        )


def _hash_uniform(ix: np.ndarray, iy: np.ndarray, seed: int, stream: int) -> np.ndarray:
    """Uniform [0, 1) numbers that depend only on (ix, iy, seed, stream): the same in every tile."""
    h = (ix.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)) ^ (
        iy.astype(np.uint64) * np.uint64(0xC2B2AE3D27D4EB4F)
    )
    h ^= np.uint64((seed * 0x165667B1 + stream * 0x27D4EB2F) & 0xFFFFFFFFFFFFFFFF)
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xFF51AFD7ED558CCD)
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xC4CEB9FE1A85EC53)
    h ^= h >> np.uint64(33)
    return (h >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def _periodic_texture(
    rng: np.random.Generator, sigma_along: float, sigma_across: float, angle: float
) -> np.ndarray:
    """Seamless (periodic) band-limited noise, anisotropic along ``angle``, unit std, padded for slicing."""
    n = TEXTURE_PERIOD
    fy = np.fft.fftfreq(n).astype(np.float32)[:, None]
    fx = np.fft.rfftfreq(n).astype(np.float32)[None, :]
    along = fx * np.cos(angle) + fy * np.sin(angle)
    across = -fx * np.sin(angle) + fy * np.cos(angle)
    envelope = np.exp(-2 * np.pi**2 * ((along * sigma_along) ** 2 + (across * sigma_across) ** 2))
    spectrum = np.fft.rfft2(rng.standard_normal((n, n), dtype=np.float32)) * envelope
    noise = np.fft.irfft2(spectrum, s=(n, n)).astype(np.float32)
    noise /= max(float(noise.std()), 1e-9)
    return np.pad(noise, ((0, MAX_TILE), (0, MAX_TILE)), mode="wrap")


class TileRenderer:
    """Callable ``(x, y, w, h) -> HxWx3 uint8`` rendering level 0 of one synthetic slide."""

    def __init__(self, layout: SlideLayout, style: SlideStyle) -> None:
        self.layout = layout
        self.fields = np.stack([layout.tissue, layout.lesion, layout.pattern]).astype(np.float32)
        self.style = style
        rng = np.random.default_rng(style.seed)
        px = 1.0 / style.mpp  # pixels per micron
        self.fibre = np.tanh(_periodic_texture(rng, 14 * px, 1.2 * px, style.fibre_angle))
        self.grain = _periodic_texture(rng, 0.6 * px, 0.6 * px, 0.0)
        self.chromatin = 0.8 + 0.2 * np.tanh(_periodic_texture(rng, 0.5 * px, 0.5 * px, 0.0))
        self.mottle = _periodic_texture(rng, 4 * px, 4 * px, 0.0)
        self.edge = _periodic_texture(rng, 3 * px, 3 * px, 0.0)
        self.stain_matrix = np.stack([style.h_vector * style.h_scale, style.e_vector * style.e_scale]).astype(
            np.float32
        )
        self.kinds = [(STROMA, STROMA_REGION), (style.lesion, LESION_REGION), (LYMPHOCYTE, PATTERN_REGION)]

    def __call__(self, x: int, y: int, w: int, h: int) -> np.ndarray:
        grain = self._texture(self.grain, x, y, w, h)
        regions = self._regions(x, y, w, h)
        if regions is None:
            glass = np.float32(255.0 * np.exp(-GLASS_OD)) + 1.5 * grain
            return np.repeat(np.clip(glass, 0, 255).astype(np.uint8)[..., None], 3, axis=2)
        tissue, lesion, pattern = regions
        mottle = self._texture(self.mottle, x, y, w, h)
        stroma_e = 0.48 + 0.17 * self._texture(self.fibre, x, y, w, h) + 0.04 * grain
        eosin = np.where(lesion, 0.42 + 0.08 * mottle, np.where(pattern, 0.25 + 0.05 * mottle, stroma_e))
        background_h = np.where(pattern, np.float32(0.12), np.float32(0.06))
        hema = np.where(lesion, 0.16 + 0.04 * mottle, background_h) + 0.015 * grain
        nuclei = self._nuclei_canvas(x, y, w, h) * self._texture(self.chromatin, x, y, w, h)
        stains = np.stack([np.maximum(hema, nuclei), np.maximum(eosin, 0)], axis=-1)
        stains[~tissue] = 0.0
        od = stains.reshape(-1, 2) @ self.stain_matrix + np.float32(GLASS_OD)
        rgb = np.exp(-od).reshape(h, w, 3) * np.float32(255.0) + 1.2 * grain[..., None]
        return np.clip(rgb, 0, 255).astype(np.uint8)

    def _texture(self, texture: np.ndarray, x: int, y: int, w: int, h: int) -> np.ndarray:
        if w > MAX_TILE or h > MAX_TILE:
            msg = f"tiles up to {MAX_TILE} px are supported, got {w}x{h}"
            raise InputError(msg)
        oy, ox = y % TEXTURE_PERIOD, x % TEXTURE_PERIOD
        return texture[oy : oy + h, ox : ox + w]

    def _regions(self, x: int, y: int, w: int, h: int) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """Tissue, lesion and pattern masks of the tile, or None for glass only.

        Fields are interpolated every 2 px and roughened by noise of about ``EDGE_UM`` so outlines are
        not smooth curves.
        """
        step = 2
        rows = (y + np.arange(0, h, step) + step / 2) / LAYOUT_DOWNSAMPLE - 0.5
        cols = (x + np.arange(0, w, step) + step / 2) / LAYOUT_DOWNSAMPLE - 0.5
        r0, r1 = max(int(rows[0]) - 1, 0), int(rows[-1]) + 3
        c0, c1 = max(int(cols[0]) - 1, 0), int(cols[-1]) + 3
        if not (
            self.layout.tissue[r0:r1, c0:c1] > -4 * EDGE_UM / (self.style.mpp * LAYOUT_DOWNSAMPLE) - 1
        ).any():
            return None
        wobble = self._texture(self.edge, x, y, w, h)[::step, ::step] * (
            EDGE_UM / (self.style.mpp * LAYOUT_DOWNSAMPLE)
        )
        fields = _bilinear(self.fields, rows, cols) + wobble
        full = np.repeat(np.repeat(fields > 0, step, axis=1), step, axis=2)[:, :h, :w]
        tissue, lesion, pattern = full
        if not tissue.any():
            return None
        return tissue, tissue & lesion, tissue & pattern & ~lesion

    def _nuclei_canvas(self, x: int, y: int, w: int, h: int) -> np.ndarray:
        """Hematoxylin of every nucleus reaching the tile (max-blend, so overlaps stay as dark as one)."""
        # NOTE: the pad is at least one patch wide, so a patch that leaves the canvas cannot touch the tile
        pad = 2 * int(np.ceil(MARGIN_UM / self.style.mpp)) + 4
        canvas = np.zeros((h + 2 * pad, w + 2 * pad), np.float32)
        for kind, region in self.kinds:
            params = self._nuclei(kind, region, x, y, w, h)
            if params is None:
                continue
            cx, cy = params[0] - x + pad, params[1] - y + pad
            patches, tops, lefts = self._paint(kind, region, cx, cy, params[2:], (x - pad, y - pad))
            size = patches.shape[1]
            inside = (
                (tops >= 0)
                & (lefts >= 0)
                & (tops + size <= canvas.shape[0])
                & (lefts + size <= canvas.shape[1])
            )
            for patch, top, left in zip(patches[inside], tops[inside], lefts[inside], strict=True):
                view = canvas[top : top + size, left : left + size]
                np.maximum(view, patch, out=view)
        return canvas[pad : pad + h, pad : pad + w]

    def _paint(
        self,
        kind: NucleusKind,
        region: int,
        cx: np.ndarray,
        cy: np.ndarray,
        params: list[np.ndarray],
        origin: tuple[int, int],
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Patches of ``region``'s nuclei centred at canvas (cx, cy); canvas (0, 0) is level-0 ``origin``.

        A hook: subclasses paint some nuclei differently (the look-alike cohort's vesicular lesion nuclei).
        """
        return _ellipse_patches(cx, cy, *params, irregular=kind.irregular)

    def _nuclei(
        self, kind: NucleusKind, region: int, x: int, y: int, w: int, h: int
    ) -> list[np.ndarray] | None:
        """Centres (x, y), semi-axes, angle, stain and outline phase of ``kind``'s nuclei near the tile."""
        px = 1.0 / self.style.mpp
        cell = kind.grid_um * px
        margin = MARGIN_UM * px
        ix = np.arange(int(np.floor((x - margin) / cell)), int(np.floor((x + w + margin) / cell)) + 1)
        iy = np.arange(int(np.floor((y - margin) / cell)), int(np.floor((y + h + margin) / cell)) + 1)
        gx, gy = np.meshgrid(ix, iy)
        gx, gy = gx.ravel(), gy.ravel()
        seed = self.style.seed
        u = [_hash_uniform(gx, gy, seed, region * 16 + k) for k in range(7)]
        cx = (gx + 0.15 + 0.7 * u[0]) * cell
        cy = (gy + 0.15 + 0.7 * u[1]) * cell
        where = self._region_at(cx, cy)
        presence = np.where(where == region, kind.presence, np.where(where == STROMA_REGION, kind.stray, 0.0))
        keep = u[2] < presence
        if not keep.any():
            return None
        major = kind.major_um * px * np.clip(1 + kind.size_cv * (u[3][keep] * 2 - 1) * 1.7, 0.5, 2.0)
        minor = major * (kind.aspect[0] + (kind.aspect[1] - kind.aspect[0]) * u[4][keep])
        if region == STROMA_REGION:
            angle = self.style.fibre_angle + (u[5][keep] - 0.5) * 0.6
        else:
            angle = u[5][keep] * np.pi
        stain = kind.stain * (0.85 + 0.3 * u[6][keep])
        phase = u[0][keep] * 2 * np.pi
        return [cx[keep], cy[keep], major, minor, angle, stain, phase]

    def _region_at(self, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        """Region code (glass, stroma, lesion, pattern) at level-0 points (nearest layout cell)."""
        layout = self.layout
        r = np.clip((ys // LAYOUT_DOWNSAMPLE).astype(np.int64), 0, layout.tissue.shape[0] - 1)
        c = np.clip((xs // LAYOUT_DOWNSAMPLE).astype(np.int64), 0, layout.tissue.shape[1] - 1)
        tissue = layout.tissue[r, c] > 0
        lesion = layout.lesion[r, c] > 0
        pattern = layout.pattern[r, c] > 0
        code = np.where(lesion, LESION_REGION, np.where(pattern, PATTERN_REGION, STROMA_REGION))
        return np.where(tissue, code, GLASS)


def _bilinear(fields: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Bilinear samples of (K, H, W) ``fields`` on the grid ``rows`` x ``cols`` (layout coordinates, clamped).

    Separable: ``R @ F @ C.T`` with sparse interpolation matrices over the small window the grid covers.
    """
    row_weights, row_slice = _interpolation_matrix(rows, fields.shape[1])
    col_weights, col_slice = _interpolation_matrix(cols, fields.shape[2])
    window = fields[:, row_slice, col_slice]
    return row_weights @ window @ col_weights.T


def _interpolation_matrix(points: np.ndarray, length: int) -> tuple[np.ndarray, slice]:
    """(n, m) linear-interpolation weights of ``points`` over the m samples of the returned slice."""
    clamped = np.clip(points, 0, length - 1)
    low = np.clip(np.floor(clamped).astype(np.int64), 0, max(length - 2, 0))
    high = np.minimum(low + 1, length - 1)
    weight = (clamped - low).astype(np.float32)
    base = int(low.min())
    matrix = np.zeros((len(points), int(high.max()) - base + 1), np.float32)
    index = np.arange(len(points))
    np.add.at(matrix, (index, low - base), 1 - weight)
    np.add.at(matrix, (index, high - base), weight)
    return matrix, slice(base, int(high.max()) + 1)


@dataclass
class EllipseFrames:
    """Square patches of side ``size`` around N ellipses: their top-left canvas pixels, each pixel's offset
    from the ellipse centre (``dx``, ``dy``, pixels) and its coordinates in the ellipse's own frame (``u``,
    ``v``, in semi-axes: the outline is u² + v² = 1)."""

    tops: np.ndarray
    lefts: np.ndarray
    dx: np.ndarray
    dy: np.ndarray
    u: np.ndarray
    v: np.ndarray

    @classmethod
    def around(
        cls,
        cx: np.ndarray,
        cy: np.ndarray,
        major: np.ndarray,
        minor: np.ndarray,
        angle: np.ndarray,
        size: int,
    ) -> EllipseFrames:
        tops = np.floor(cy).astype(np.int64) - size // 2
        lefts = np.floor(cx).astype(np.int64) - size // 2
        grid = np.arange(size, dtype=np.float32) + 0.5
        dy = (tops[:, None] + grid[None, :] - cy[:, None]).astype(np.float32)[:, :, None]
        dx = (lefts[:, None] + grid[None, :] - cx[:, None]).astype(np.float32)[:, None, :]
        cos = np.cos(angle).astype(np.float32)[:, None, None]
        sin = np.sin(angle).astype(np.float32)[:, None, None]
        u = (dx * cos + dy * sin) / major.astype(np.float32)[:, None, None]
        v = (-dx * sin + dy * cos) / minor.astype(np.float32)[:, None, None]
        return cls(tops, lefts, dx, dy, u, v)


def wavy_radius(frames: EllipseFrames, phase: np.ndarray, irregular: float) -> np.ndarray:
    """Each pixel's radius in its ellipse's frame, the outline made wavy by ``irregular`` (0: an ellipse)."""
    radius = np.sqrt(frames.u * frames.u + frames.v * frames.v)
    if irregular > 0:
        theta = np.arctan2(frames.v, frames.u)
        ph = phase.astype(np.float32)[:, None, None]
        radius = radius / (1 + irregular * (0.6 * np.sin(2 * theta + ph) + 0.4 * np.sin(3 * theta + 2 * ph)))
    return radius


def _ellipse_patches(
    cx: np.ndarray,
    cy: np.ndarray,
    major: np.ndarray,
    minor: np.ndarray,
    angle: np.ndarray,
    stain: np.ndarray,
    phase: np.ndarray,
    irregular: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Soft-edged (optionally wavy) ellipses as (N, S, S) patches plus their top-left canvas positions."""
    size = 2 * int(np.ceil(float(major.max()) * (1 + irregular) + 1.5)) + 2
    frames = EllipseFrames.around(cx, cy, major, minor, angle, size)
    radius = wavy_radius(frames, phase, irregular)
    edge = np.clip((1.0 - radius) * (major.astype(np.float32)[:, None, None] / 1.2), 0.0, 1.0)  # ~1 px rim
    return edge * stain.astype(np.float32)[:, None, None], frames.tops, frames.lefts
