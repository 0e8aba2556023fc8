"""The look-alike cohort: only high magnification decides the label (a benchmark for focus-driven reading).

Every slide holds 3-5 round foci of crowded nuclei (350-600 um across by default), plainly visible on a
thumbnail against the stroma and alike there: same colour, same texture. A positive slide (label 1) has
exactly one lesion focus among them (large, pleomorphic, vesicular nuclei); a negative slide has only
look-alikes (clumps of small, round, solid nuclei). Count, sizes and places of the foci come from the same
random stream whatever the label, and the lesion is one of them picked at random, so count, size,
position and dark area say nothing about the label. See :mod:`lookalike_render` for the nuclei.

Outputs as :func:`pathfocus.data.synthetic.slides.make_synthetic_cohort` (slides, labels.csv,
clinical.csv with survival planted on the pattern P share, truth.csv, cohort.json, tissue, lesion and
pattern masks) plus ``masks/<id>_lookalike.png`` and ``foci.csv`` (slide_id, kind, x, y, radius in
level-0 pixels; kind is ``lesion`` or ``lookalike``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

from pathfocus.data.synthetic.foci_layout import FociLayout, make_foci_layout
from pathfocus.data.synthetic.lookalike_render import FOCUS_LESION, FociRenderer
from pathfocus.data.synthetic.slide_layout import LAYOUT_DOWNSAMPLE
from pathfocus.data.synthetic.slide_render import SlideStyle
from pathfocus.data.synthetic.slide_tiff import write_aperio_tiff
from pathfocus.data.synthetic.slides import TILE, survival_times
from pathfocus.errors import InputError
from pathfocus.fileio import atomic_path, write_csv, write_json

LESION_SEVERITY = 0.6  # truth.csv's severity of positive slides (the lesion nuclei never change)
FOCI_COLUMNS = ["slide_id", "kind", "x", "y", "radius"]


@dataclass(frozen=True)
class FociConfig:
    """How many foci a slide holds and how large they are (both drawn uniformly per slide).

    The defaults fit the tissue of an 8192 px slide at 0.5 um/px (4 mm square); smaller slides need
    fewer or smaller foci (a 2560 px slide holds 3-4 foci of 140-200 um, a 3072 px one of 160-240 um).
    """

    n_foci: tuple[int, int] = (3, 5)
    diameter_um: tuple[float, float] = (350.0, 600.0)

    def __post_init__(self) -> None:
        low, high = self.n_foci
        if not 1 <= low <= high:
            msg = f"n_foci must be (min, max) with 1 <= min <= max, got {self.n_foci}"
            raise InputError(msg)
        small, large = self.diameter_um
        if not 0 < small <= large:
            msg = f"diameter_um must be (min, max) microns with 0 < min <= max, got {self.diameter_um}"
            raise InputError(msg)


@dataclass(frozen=True)
class LookalikeRecipe:
    """Everything that decides one look-alike slide (so it can be rebuilt in a worker process)."""

    slide_id: str
    label: int
    seed: int
    size: int
    mpp: float
    tissue_share: float
    pattern_share: float
    n_foci: tuple[int, int]
    diameter_um: tuple[float, float]


def write_lookalike_slide(
    path: str | os.PathLike[str], recipe: LookalikeRecipe, quality: int = 85
) -> FociLayout:
    """Render ``recipe`` to ``path`` and return the layout it was drawn from (the ground truth).

    Every draw before the renderer is the same for either label: the label only decides whether the
    focus drawn as the lesion candidate is painted as the lesion.
    """
    rng = np.random.default_rng(recipe.seed)
    cell_um = recipe.mpp * LAYOUT_DOWNSAMPLE
    count = int(rng.integers(recipe.n_foci[0], recipe.n_foci[1] + 1))
    radii = rng.uniform(*recipe.diameter_um, size=count) / 2 / cell_um
    candidate = int(rng.integers(count))
    shape = (recipe.size // LAYOUT_DOWNSAMPLE, recipe.size // LAYOUT_DOWNSAMPLE)
    layout = make_foci_layout(
        rng,
        shape,
        recipe.tissue_share,
        recipe.pattern_share,
        radii,
        lesion_index=candidate if recipe.label == 1 else None,
        cell_um=cell_um,
    )
    style = replace(SlideStyle.random(rng, mpp=recipe.mpp, severity=LESION_SEVERITY), lesion=FOCUS_LESION)
    write_aperio_tiff(
        path,
        FociRenderer(layout, style),
        (recipe.size, recipe.size),
        mpp=recipe.mpp,
        magnification=round(10.0 / recipe.mpp, 2),
        tile=TILE,
        quality=quality,
    )
    return layout


def lookalike_recipes(
    n_slides: int, seed: int, size: int, mpp: float, foci: FociConfig
) -> list[LookalikeRecipe]:
    """Balanced labels in random order; tissue and pattern P shares at random, as the lesion cohort's."""
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n_slides) % 2)
    return [
        LookalikeRecipe(
            slide_id=f"slide_{index:03d}",
            label=int(label),
            seed=int(rng.integers(0, 2**31 - 1)),
            size=size,
            mpp=mpp,
            tissue_share=float(rng.uniform(0.35, 0.55)),
            pattern_share=float(rng.uniform(0.02, 0.25)),
            n_foci=foci.n_foci,
            diameter_um=foci.diameter_um,
        )
        for index, label in enumerate(labels)
    ]


def build_lookalike_slide(
    job: tuple[LookalikeRecipe, Path, int],
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Write one slide and its masks; return its truth row and its foci rows (runs in a worker process)."""
    recipe, out, quality = job
    path = out / "slides" / f"{recipe.slide_id}.tiff"
    layout = write_lookalike_slide(path, recipe, quality=quality)
    for name, mask in (
        ("tissue", layout.tissue_mask),
        ("lesion", layout.lesion_mask),
        ("pattern", layout.pattern_mask),
        ("lookalike", layout.lookalike_mask),
    ):
        with atomic_path(out / "masks" / f"{recipe.slide_id}_{name}.png") as tmp:
            Image.fromarray(mask.astype(np.uint8) * 255).save(tmp, format="PNG")
    foci = [
        {
            "slide_id": recipe.slide_id,
            "kind": focus.kind,
            "x": round(focus.col * LAYOUT_DOWNSAMPLE, 1),
            "y": round(focus.row * LAYOUT_DOWNSAMPLE, 1),
            "radius": round(focus.radius * LAYOUT_DOWNSAMPLE, 1),
        }
        for focus in layout.foci
    ]
    row = {
        "slide_id": recipe.slide_id,
        "path": str(path.resolve()),
        "label": recipe.label,
        **layout.fractions(),
        "n_foci": len(layout.foci),
        "severity": LESION_SEVERITY if recipe.label == 1 else 0.0,
        "seed": recipe.seed,
        "width": recipe.size,
        "height": recipe.size,
        "mpp": recipe.mpp,
        "mask_mpp": recipe.mpp * LAYOUT_DOWNSAMPLE,
    }
    return row, foci


def make_lookalike_cohort(
    out: str | os.PathLike[str],
    n_slides: int,
    seed: int,
    size: int,
    mpp: float,
    foci: FociConfig,
    workers: int = 1,
    quality: int = 85,
    progress: Callable[[str], None] | None = None,
) -> Path:
    """Build the cohort under ``out`` (see the module docstring); returns ``out``.

    Called by ``make_synthetic_cohort(task="lookalike")``, which checks the common arguments. Survival
    is planted on the pattern P share exactly as in the lesion cohort.
    """
    out = Path(out)
    recipes = lookalike_recipes(n_slides, seed, size, mpp, foci)
    rows: list[dict[str, Any]] = []
    foci_rows: list[dict[str, Any]] = []
    for row, slide_foci in _run([(recipe, out, quality) for recipe in recipes], workers):
        rows.append(row)
        foci_rows.extend(slide_foci)
        if progress:
            progress(row["slide_id"])
    truth = pd.DataFrame(rows)
    time, event = survival_times(truth["pattern_fraction"].to_numpy(), np.random.default_rng([seed, 1]))
    truth["time"], truth["event"] = time, event
    write_csv(out / "truth.csv", truth)
    write_csv(out / "labels.csv", truth[["slide_id", "path", "label"]])
    write_csv(out / "clinical.csv", truth[["slide_id", "time", "event"]])
    write_csv(out / "foci.csv", pd.DataFrame(foci_rows, columns=FOCI_COLUMNS))
    write_json(
        out / "cohort.json",
        {
            "task": "lookalike",
            "n_slides": n_slides,
            "seed": seed,
            "grades": None,
            "size": size,
            "mpp": mpp,
            "n_classes": 2,
            "foci": asdict(foci),
            "recipes": [asdict(r) for r in recipes],
        },
    )
    return out


def _run(
    jobs: list[tuple[LookalikeRecipe, Path, int]], workers: int
) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Build the slides in order, in ``workers`` processes when more than one."""
    if workers <= 1:
        yield from map(build_lookalike_slide, jobs)
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        yield from pool.map(build_lookalike_slide, jobs)
