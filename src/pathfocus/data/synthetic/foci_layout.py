"""The plan of a look-alike slide: tissue, a few round foci (one may be the lesion) and pattern P.

Foci are discs with a slightly wavy outline, placed inside solid tissue (holes are cut elsewhere) and
apart from each other. Their count, sizes and places are drawn before anyone knows which focus is the
lesion, and from the same random stream whatever the label, so nothing but the cells inside a focus
tells a positive slide from a negative one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from pathfocus.data.synthetic.slide_layout import (
    SlideLayout,
    _unit_slope,
    cut_holes,
    pattern_field,
    tissue_outline,
)
from pathfocus.errors import InputError

ABSENT = -100.0  # a field value far below 0: edge roughening never makes the structure appear
OUTLINE_WOBBLE = 0.06  # relative amplitude of each of the two harmonics of a focus outline
EDGE_MARGIN_CELLS = 3.0  # solid tissue kept between a focus and the tissue edge
GAP_UM = 120.0  # tissue kept between two foci (several thumbnail superpixels)
PATTERN_CLEARANCE_CELLS = 4  # pattern P stays this far from any focus
PLACEMENT_TRIES = 25


@dataclass(frozen=True)
class Focus:
    """One focus, in layout cells (``LAYOUT_DOWNSAMPLE`` level-0 pixels each): centre and nominal radius."""

    row: float
    col: float
    radius: float
    kind: str  # "lesion" or "lookalike"


@dataclass
class FociLayout(SlideLayout):
    """A :class:`SlideLayout` whose ``lesion`` field is the lesion focus, plus the look-alike foci."""

    lookalike: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    foci: list[Focus] = field(default_factory=list)

    @property
    def lookalike_mask(self) -> np.ndarray:
        return self.tissue_mask & (self.lookalike > 0)

    @property
    def pattern_mask(self) -> np.ndarray:
        return super().pattern_mask & ~(self.lookalike > 0)

    def fractions(self) -> dict[str, float]:
        """As :meth:`SlideLayout.fractions`, plus the look-alike share of the tissue."""
        shares = super().fractions()
        shares["lookalike_fraction"] = float(self.lookalike_mask.sum() / max(int(self.tissue_mask.sum()), 1))
        return shares


def make_foci_layout(
    rng: np.random.Generator,
    shape: tuple[int, int],
    tissue_share: float,
    pattern_share: float,
    radii: np.ndarray,
    lesion_index: int | None,
    cell_um: float,
    hole_share: float = 0.03,
) -> FociLayout:
    """Tissue holding one focus per radius in ``radii`` (layout cells); focus ``lesion_index`` is the lesion.

    The tissue is redrawn until every focus fits (the retries do not depend on ``lesion_index``); raises
    :class:`InputError` when the slide is too small for the foci.
    """
    gap = GAP_UM / cell_um
    for _ in range(PLACEMENT_TRIES):
        tissue = tissue_outline(rng, shape, tissue_share)
        centres = _place(rng, tissue > 0, radii, gap)
        if centres is not None:
            break
    else:
        side_um = min(shape) * cell_um
        msg = (
            f"{len(radii)} foci of up to {2 * float(radii.max()) * cell_um:.0f} um across do not fit in the "
            f"tissue of a {side_um:.0f} um slide; use a larger slide size or fewer or smaller foci "
            "(n_foci, focus_diameter_um)"
        )
        raise InputError(msg)
    fields = [_disc_field(rng, shape, (r, c), radius) for (r, c), radius in zip(centres, radii, strict=True)]
    near_foci = ndimage.binary_dilation(np.max(fields, axis=0) > -PATTERN_CLEARANCE_CELLS, iterations=1)
    tissue = cut_holes(rng, tissue, hole_share, keep=near_foci)
    pattern = pattern_field(rng, (tissue > 0) & ~near_foci, pattern_share)
    kinds = ["lesion" if index == lesion_index else "lookalike" for index in range(len(radii))]
    lesion = [f for f, kind in zip(fields, kinds, strict=True) if kind == "lesion"]
    lookalike = [f for f, kind in zip(fields, kinds, strict=True) if kind == "lookalike"]
    absent = np.full(shape, ABSENT, np.float32)
    return FociLayout(
        tissue=_unit_slope(tissue),
        lesion=np.max(lesion, axis=0).astype(np.float32) if lesion else absent.copy(),
        pattern=_unit_slope(pattern),
        lookalike=np.max(lookalike, axis=0).astype(np.float32) if lookalike else absent.copy(),
        foci=[
            Focus(row=float(r), col=float(c), radius=float(radius), kind=kind)
            for (r, c), radius, kind in zip(centres, radii, kinds, strict=True)
        ],
    )


def _place(
    rng: np.random.Generator, tissue: np.ndarray, radii: np.ndarray, gap: float
) -> list[tuple[float, float]] | None:
    """Centres (row, col) for discs of ``radii`` inside ``tissue``, ``gap`` apart; None if one does not fit.

    Largest first; each centre is drawn uniformly among the cells where the disc (with its wobble and a
    margin) lies in tissue and clear of the discs already placed.
    """
    depth = ndimage.distance_transform_edt(np.pad(tissue, 1))[1:-1, 1:-1]
    rows, cols = np.nonzero(tissue)
    placed: dict[int, tuple[float, float]] = {}
    for index in np.argsort(-radii, kind="stable"):
        radius = float(radii[index])
        ok = depth[rows, cols] >= radius * (1 + 2 * OUTLINE_WOBBLE) + EDGE_MARGIN_CELLS
        for (r, c), other in ((placed[j], float(radii[j])) for j in placed):
            ok &= np.hypot(rows - r, cols - c) >= (radius + other) * (1 + 2 * OUTLINE_WOBBLE) + gap
        if not ok.any():
            return None
        pick = int(rng.choice(np.flatnonzero(ok)))
        placed[int(index)] = (float(rows[pick]) + 0.5, float(cols[pick]) + 0.5)
    return [placed[index] for index in range(len(radii))]


def _disc_field(
    rng: np.random.Generator, shape: tuple[int, int], centre: tuple[float, float], radius: float
) -> np.ndarray:
    """Signed distance (cells, > 0 inside) to a disc of ``radius`` whose outline wobbles by a few percent."""
    rows, cols = (axis.astype(np.float32) + 0.5 for axis in np.ogrid[0 : shape[0], 0 : shape[1]])
    dy, dx = rows - centre[0], cols - centre[1]  # a column and a row: the functions below broadcast them
    theta = np.arctan2(dy, dx)
    phases = rng.uniform(0, 2 * np.pi, 2)
    edge = radius * (1 + OUTLINE_WOBBLE * (np.sin(2 * theta + phases[0]) + np.sin(3 * theta + phases[1])))
    return (edge - np.hypot(dy, dx)).astype(np.float32)
