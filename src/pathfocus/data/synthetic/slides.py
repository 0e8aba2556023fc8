"""Synthetic whole-slide cohorts with ground truth: slides, labels, survival and the masks they came from.

Each slide is a pyramidal tiled-JPEG TIFF that OpenSlide opens as an Aperio slide (mpp 0.5, 20x by
default; downsamples 1, 4, 16 so the 8 um/px thumbnail is level 2; larger slides add 4x steps). Slides are
drawn and written tile by tile (:mod:`slide_tiff`), so realistic sizes (65536-131072 px at 0.25 um/px,
40x) are written in a fraction of their level 0's memory. Positive slides (or grades >= 1) carry
lesions of crowded, large, pleomorphic nuclei over a modest share of the tissue, so a slide-level
model has to find them. Every slide also holds a slide-specific amount of "pattern P" (dense clusters of
small dark lymphocyte-like nuclei) on which survival depends: hazard rises with its share (Cox, beta 1.0
per standard deviation), about 30 % of times are censored.

Outputs under OUT: ``slides/<id>.tiff``, ``labels.csv`` (slide_id,path,label), ``clinical.csv``
(slide_id,time,event), ``truth.csv`` (fractions and parameters), ``masks/<id>_{tissue,lesion,pattern}.png``
at the layout resolution (16 level-0 pixels per mask pixel), and ``cohort.json`` (the recipe).

``task="lookalike"`` builds the look-alike cohort instead (:mod:`pathfocus.data.synthetic.lookalike`):
foci that look alike on a thumbnail, one of them a lesion on positive slides; the same files plus
``foci.csv`` and ``masks/<id>_lookalike.png``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from PIL import Image

from pathfocus.data.synthetic.slide_layout import LAYOUT_DOWNSAMPLE, SlideLayout, empty_layout, make_layout
from pathfocus.data.synthetic.slide_render import SlideStyle, TileRenderer
from pathfocus.data.synthetic.slide_tiff import write_aperio_tiff
from pathfocus.errors import InputError
from pathfocus.fileio import atomic_path, write_csv, write_json

if TYPE_CHECKING:
    from pathfocus.data.synthetic.lookalike import FociConfig

log = logging.getLogger(__name__)

TASKS = ("lesion", "lookalike")
MEDIAN_SURVIVAL_MONTHS = 36.0
PATTERN_LOG_HAZARD_PER_SD = 1.0
CENSORED_SHARE = 0.3
TILE = 256


@dataclass(frozen=True)
class SlideRecipe:
    """Everything that decides one synthetic slide (so it can be rebuilt in a worker process)."""

    slide_id: str
    label: int
    seed: int
    size: int
    mpp: float | None
    tissue_share: float
    lesion_share: float
    pattern_share: float
    severity: float
    blank: bool = False


def write_synthetic_slide(
    path: str | os.PathLike[str], recipe: SlideRecipe, quality: int = 85, workers: int = 1
) -> SlideLayout:
    """Render ``recipe`` to ``path`` and return the layout it was drawn from (the ground truth).

    ``workers`` > 1 draws the slide's tile rows in that many processes (one big slide on several cores).
    """
    if recipe.size % TILE or recipe.size < TILE:
        msg = f"slide size must be a multiple of {TILE} pixels, got {recipe.size}"
        raise InputError(msg)
    rng = np.random.default_rng(recipe.seed)
    shape = (recipe.size // LAYOUT_DOWNSAMPLE, recipe.size // LAYOUT_DOWNSAMPLE)
    if recipe.blank:
        layout = empty_layout(shape)
    else:
        layout = make_layout(rng, shape, recipe.tissue_share, recipe.lesion_share, recipe.pattern_share)
    mpp = recipe.mpp if recipe.mpp is not None else 0.5
    style = SlideStyle.random(rng, mpp=mpp, severity=recipe.severity)
    magnification = None if recipe.mpp is None else round(10.0 / recipe.mpp, 2)
    write_aperio_tiff(
        path,
        TileRenderer(layout, style),
        (recipe.size, recipe.size),
        mpp=recipe.mpp,
        magnification=magnification,
        tile=TILE,
        quality=quality,
        workers=workers,
    )
    return layout


def _recipes(n_slides: int, seed: int, grades: int | None, size: int, mpp: float) -> list[SlideRecipe]:
    """Balanced labels in random order; lesion extent and severity by label, pattern P at random."""
    rng = np.random.default_rng(seed)
    n_classes = 2 if grades is None else grades
    labels = rng.permutation(np.arange(n_slides) % n_classes)
    recipes = []
    for index, label in enumerate(labels):
        if label == 0:
            lesion_share, severity = 0.0, 0.0
        elif grades is None:
            lesion_share, severity = float(rng.uniform(0.06, 0.15)), 0.6
        else:
            step = (label - 1) / max(grades - 2, 1)
            lesion_share = float((0.05 + 0.13 * step) * rng.uniform(0.85, 1.15))
            severity = 0.6 if grades == 2 else 0.35 + 0.65 * step
        recipes.append(
            SlideRecipe(
                slide_id=f"slide_{index:03d}",
                label=int(label),
                seed=int(rng.integers(0, 2**31 - 1)),
                size=size,
                mpp=mpp,
                tissue_share=float(rng.uniform(0.35, 0.55)),
                lesion_share=lesion_share,
                pattern_share=float(rng.uniform(0.02, 0.25)),
                severity=float(severity),
            )
        )
    return recipes


def _build(job: tuple[SlideRecipe, Path, int]) -> dict[str, Any]:
    """Write one slide and its masks; return its truth row (runs in a worker process)."""
    recipe, out, quality = job
    path = out / "slides" / f"{recipe.slide_id}.tiff"
    layout = write_synthetic_slide(path, recipe, quality=quality)
    for name, mask in (
        ("tissue", layout.tissue_mask),
        ("lesion", layout.lesion_mask),
        ("pattern", layout.pattern_mask),
    ):
        with atomic_path(out / "masks" / f"{recipe.slide_id}_{name}.png") as tmp:
            Image.fromarray(mask.astype(np.uint8) * 255).save(tmp, format="PNG")
    return {
        "slide_id": recipe.slide_id,
        "path": str(path.resolve()),
        "label": recipe.label,
        **layout.fractions(),
        "severity": recipe.severity,
        "seed": recipe.seed,
        "width": recipe.size,
        "height": recipe.size,
        "mpp": recipe.mpp,
        "mask_mpp": (recipe.mpp or 0.5) * LAYOUT_DOWNSAMPLE,
    }


def survival_times(pattern_fraction: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Exponential times whose hazard rises with the standardised pattern share; ~30 % censored."""
    z = (pattern_fraction - pattern_fraction.mean()) / max(float(pattern_fraction.std()), 1e-9)
    base_rate = np.log(2.0) / MEDIAN_SURVIVAL_MONTHS
    event_time = rng.exponential(1.0 / (base_rate * np.exp(PATTERN_LOG_HAZARD_PER_SD * z)))
    censor_rate = base_rate * CENSORED_SHARE / (1 - CENSORED_SHARE)
    censor_time = rng.exponential(1.0 / censor_rate, size=len(z))
    time = np.maximum(np.minimum(event_time, censor_time), 0.1).round(1)
    return time, (event_time <= censor_time).astype(int)


def make_synthetic_cohort(
    out: str | os.PathLike[str],
    n_slides: int = 24,
    seed: int = 0,
    grades: int | None = None,
    size: int = 8192,
    mpp: float = 0.5,
    workers: int = 1,
    quality: int = 85,
    progress: Callable[[str], None] | None = None,
    task: str = "lesion",
    foci: FociConfig | None = None,
) -> Path:
    """Build a cohort under ``out`` (see the module docstring for the files); returns ``out``.

    ``grades=G`` makes labels 0..G-1 (0 = no lesion; higher grades: larger, more atypical lesions).
    ``progress`` is called with each finished slide id (for a progress bar).
    ``task="lookalike"`` builds the look-alike cohort instead (:mod:`pathfocus.data.synthetic.lookalike`:
    only high magnification tells the label; ``foci`` sets the number and size of its foci).
    """
    out = Path(out)
    if task not in TASKS:
        msg = f"task must be one of {', '.join(TASKS)}, got {task!r}"
        raise InputError(msg)
    if task == "lesion" and foci is not None:
        msg = "foci (the number and size of look-alike foci) applies to task='lookalike' only; drop it"
        raise InputError(msg)
    if task == "lookalike" and grades is not None:
        msg = f"the look-alike cohort has labels 0/1 only; drop --grades ({grades}) or use --task lesion"
        raise InputError(msg)
    if n_slides < 2:
        msg = f"a cohort needs at least 2 slides, got --slides {n_slides}"
        raise InputError(msg)
    if grades is not None and not 2 <= grades <= n_slides:
        msg = f"--grades must lie between 2 and the number of slides ({n_slides}), got {grades}"
        raise InputError(msg)
    if size < TILE or size % TILE:
        msg = f"--size must be a positive multiple of {TILE} pixels, got {size}"
        raise InputError(msg)
    if mpp <= 0:
        msg = f"mpp must be positive, got {mpp}"
        raise InputError(msg)
    if task == "lookalike":
        # NOTE: imported here, as lookalike.py imports this module's constants and survival_times
        from pathfocus.data.synthetic.lookalike import FociConfig, make_lookalike_cohort

        return make_lookalike_cohort(
            out, n_slides, seed, size, mpp, foci or FociConfig(), workers, quality, progress
        )
    recipes = _recipes(n_slides, seed, grades, size, mpp)
    jobs = [(recipe, out, quality) for recipe in recipes]
    rows: list[dict[str, Any]] = []
    if workers > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for row in pool.map(_build, jobs):
                rows.append(row)
                if progress:
                    progress(row["slide_id"])
    else:
        for job in jobs:
            rows.append(_build(job))
            if progress:
                progress(rows[-1]["slide_id"])
    truth = pd.DataFrame(rows)
    time, event = survival_times(truth["pattern_fraction"].to_numpy(), np.random.default_rng([seed, 1]))
    truth["time"], truth["event"] = time, event
    write_csv(out / "truth.csv", truth)
    write_csv(out / "labels.csv", truth[["slide_id", "path", "label"]])
    write_csv(out / "clinical.csv", truth[["slide_id", "time", "event"]])
    write_json(
        out / "cohort.json",
        {
            "n_slides": n_slides,
            "seed": seed,
            "grades": grades,
            "size": size,
            "mpp": mpp,
            "n_classes": 2 if grades is None else grades,
            "recipes": [asdict(r) for r in recipes],
        },
    )
    log.debug("wrote %d synthetic slides to %s", n_slides, out)
    return out
