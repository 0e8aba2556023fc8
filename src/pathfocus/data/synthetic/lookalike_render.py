"""Render look-alike slides: a lesion focus and look-alike foci that only high magnification tells apart.

Both kinds of focus share one plan: the same crowded background (the base renderer's lesion-region
haematoxylin and eosin), the same grid of cell sites, the same stain per site and, at every site, the
same would-be lesion nucleus (size, shape, angle). In the lesion focus it is painted as one large,
pleomorphic, irregular, vesicular nucleus; in a look-alike focus it becomes a tight clump of 1-4 small,
round, regular, solid nuclei laid out in its shape, as many as its ink calls for (rounded at random).
Both are painted with hard edges; :mod:`lookalike_nuclei` says why.

``ClumpKind.area_gain`` and ``site_presence`` and ``VesicularLook.granule_share`` were fitted (a linear
model around a starting point) on 2 mm renders of both kinds under 12 random slide styles. At 8 um/px
the look-alikes then differ from the lesion by +0.1 % in mean red, +0.6 % in pixel std (red; -0.2 % in
haematoxylin), +0.8 % / -0.9 % in gradient mean / std and 0.1 % in 32 um block std; slide stains vary by
15-20 %. Foci painted both ways in the same slides, scored by a logistic regression on their
superpixel-graph and pixel features (out of fold, held-out slides): AUC 0.60 for 140-200 um foci,
about 0.70 for the default 350-600 um foci, whose pixel statistics are precise enough (about 1.5 % per
focus) to show the remaining 1 % in std: a thumbnail model trained well can get a weak hint there.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from pathfocus.data.synthetic.foci_layout import FociLayout
from pathfocus.data.synthetic.lookalike_nuclei import (
    clump_reach,
    solid_patches,
    stencil_offsets,
    vesicular_patches,
)
from pathfocus.data.synthetic.slide_layout import LAYOUT_DOWNSAMPLE
from pathfocus.data.synthetic.slide_render import (
    GLASS,
    LESION_REGION,
    MARGIN_UM,
    TEXTURE_PERIOD,
    NucleusKind,
    SlideStyle,
    TileRenderer,
    _hash_uniform,
    _periodic_texture,
)
from pathfocus.errors import InputError

LOOKALIKE_REGION = 4

# Tumour-like nuclei of the look-alike cohort: the lesion cohort's severity 0.6 with a little less size
# spread, so that a clump of the same ink stays within the renderer's reach (MARGIN_UM).
FOCUS_LESION = NucleusKind(
    grid_um=16.0, presence=0.85, major_um=5.5, aspect=(0.6, 1.0), size_cv=0.18, stain=1.6, irregular=0.16
)


@dataclass(frozen=True)
class ClumpKind:
    """Small round regular nuclei packed on a hexagonal lattice in the shape a lesion nucleus would have.

    ``area_gain`` (nuclear area of a clump over the outline area of the lesion nucleus it replaces) is
    fitted with ``VesicularLook.granule_share`` so that both kinds put the same ink into the same
    footprints.
    """

    radius_um: float = 2.9  # semi-axis of one small nucleus
    aspect: tuple[float, float] = (0.88, 1.0)
    size_cv: float = 0.05
    gap_um: float = 1.0  # between clump neighbours: 2 px at 0.5 um/px, an eighth of an 8 um pixel
    area_gain: float = 0.634
    max_count: int = 4
    # chance a site holds a clump (lesion nuclei: 0.85): rounding to whole nuclei adds site-to-site
    # spread of ink, fewer empty sites take it back, so the coarse (32 um) texture matches too
    site_presence: float = 0.915

    def as_nucleus_kind(self, sites: NucleusKind) -> NucleusKind:
        """The kind the canvas paints (round, regular) on the lesion kind's grid."""
        return replace(
            sites,
            major_um=self.radius_um,
            aspect=self.aspect,
            size_cv=self.size_cv,
            irregular=0.0,
            presence=self.site_presence,
        )


@dataclass(frozen=True)
class VesicularLook:
    """Open chromatin of the lesion nuclei: inked membrane, coarse granules and a nucleolus, clear between."""

    membrane_um: float = 1.48
    granule_share: float = 0.338  # share of the nucleoplasm inked by chromatin granules
    granule_um: float = 0.8  # scale of the granules
    nucleolus_um: float = 0.9  # radius


LOOKALIKE_CLUMP = ClumpKind()
LESION_LOOK = VesicularLook()


class FociRenderer(TileRenderer):
    """A :class:`TileRenderer` for a :class:`FociLayout`: vesicular nuclei in the lesion focus, clumps in
    the look-alike foci, the base renderer's stroma, pattern P and glass elsewhere."""

    def __init__(
        self,
        layout: FociLayout,
        style: SlideStyle,
        clump: ClumpKind = LOOKALIKE_CLUMP,
        look: VesicularLook = LESION_LOOK,
    ) -> None:
        super().__init__(layout, style)
        px = 1.0 / style.mpp
        largest = clump.radius_um * (1 + 1.7 * clump.size_cv)
        self.spacing = (2 * largest + clump.gap_um) * px
        # the farthest of max_count nuclei laid out in the most elongated outline
        reach = clump_reach(clump.max_count, style.lesion.aspect[0]) * (2 * largest + clump.gap_um) + largest
        if reach > MARGIN_UM:
            msg = (
                f"clumps of {clump.max_count} nuclei reach {reach:.1f} um from their site, beyond the "
                f"renderer's {MARGIN_UM} um; lower ClumpKind.max_count, radius_um or gap_um"
            )
            raise InputError(msg)
        self.foci_layout, self.clump, self.look = layout, clump, look
        # NOTE: the base renderer paints its "lesion" field with the crowded-focus background; both kinds
        # of focus get it, so backgrounds match and only the nuclei differ.
        self.fields[1] = np.maximum(layout.lesion, layout.lookalike)
        self.kinds = [*self.kinds, (clump.as_nucleus_kind(style.lesion), LOOKALIKE_REGION)]
        texture = _periodic_texture(
            np.random.default_rng([style.seed, 7]), look.granule_um * px, look.granule_um * px, 0.0
        )[:TEXTURE_PERIOD, :TEXTURE_PERIOD]
        self.granules = texture > np.quantile(texture, 1.0 - look.granule_share)

    def _region_at(self, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        """Region code at level-0 points, with look-alike foci as their own region."""
        code = super()._region_at(xs, ys)
        shape = self.layout.tissue.shape
        r = np.clip((ys // LAYOUT_DOWNSAMPLE).astype(np.int64), 0, shape[0] - 1)
        c = np.clip((xs // LAYOUT_DOWNSAMPLE).astype(np.int64), 0, shape[1] - 1)
        return np.where((code != GLASS) & (self.foci_layout.lookalike[r, c] > 0), LOOKALIKE_REGION, code)

    def _nuclei(
        self, kind: NucleusKind, region: int, x: int, y: int, w: int, h: int
    ) -> list[np.ndarray] | None:
        if region != LOOKALIKE_REGION:
            return super()._nuclei(kind, region, x, y, w, h)
        # sites and their would-be lesion nuclei as the lesion focus draws them, then split into clumps
        sites = super()._nuclei(replace(self.style.lesion, presence=kind.presence), region, x, y, w, h)
        return None if sites is None else self._split(sites)

    def _paint(
        self,
        kind: NucleusKind,
        region: int,
        cx: np.ndarray,
        cy: np.ndarray,
        params: list[np.ndarray],
        origin: tuple[int, int],
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if region == LOOKALIKE_REGION:
            return solid_patches(cx, cy, params)
        if region != LESION_REGION:
            return super()._paint(kind, region, cx, cy, params, origin)
        px = 1.0 / self.style.mpp
        return vesicular_patches(
            cx,
            cy,
            params,
            irregular=kind.irregular,
            membrane=self.look.membrane_um * px,
            nucleolus=self.look.nucleolus_um * px,
            granules=self.granules,
            origin=origin,
        )

    def _split(self, sites: list[np.ndarray]) -> list[np.ndarray] | None:
        """Replace each site's lesion nucleus by a clump of small round nuclei of the same expected ink.

        The number of nuclei is the site's share rounded up or down at random (nothing is lost on
        average); they are laid out in the shape of the outline they replace. Every random draw hashes
        the site (and lattice slot), so tiles agree on clumps they share.
        """
        cx, cy, major, minor, angle, stain, _ = sites
        clump, seed, px = self.clump, self.style.seed, 1.0 / self.style.mpp
        key_x, key_y = np.round(cx * 4).astype(np.int64), np.round(cy * 4).astype(np.int64)
        u = [_hash_uniform(key_x, key_y, seed, 200 + k) for k in range(4)]
        low, high = clump.aspect
        spread = 1 + (1.7 * clump.size_cv) ** 2 / 3  # E[r^2] / r^2 of the uniform size draw
        mean_area = np.pi * (clump.radius_um * px) ** 2 * (low + high) / 2 * spread
        count = np.floor(clump.area_gain * np.pi * major * minor / mean_area + u[3])
        count = np.clip(count, 0, clump.max_count).astype(np.int64)
        if not count.any():
            return None
        origin = np.stack([u[0] - 0.5, (u[1] - 0.5) * np.sqrt(3) / 2], axis=1)
        dx, dy, used = stencil_offsets([major, minor, angle], count, origin, 2 * np.pi * u[2], self.spacing)
        slot = np.broadcast_to(np.arange(used.shape[1])[None, :], used.shape)[used]
        sub_x = np.broadcast_to(key_x[:, None], used.shape)[used] * 64 + slot
        v = [_hash_uniform(sub_x, key_y.repeat(count), seed, 210 + k) for k in range(3)]
        radius = clump.radius_um * px * (1 + clump.size_cv * (2 * v[0] - 1) * 1.7)
        return [
            (cx[:, None] + dx)[used],
            (cy[:, None] + dy)[used],
            radius,
            radius * (low + (high - low) * v[1]),
            np.pi * v[2],
            stain.repeat(count),
            np.zeros(int(used.sum())),
        ]
