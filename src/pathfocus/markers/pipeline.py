"""``discover_markers``: from a trained SEW run (or a region-feature table) and a cohort to markers.

Order of work: every input is validated first (tables, slide files, run folder, options), then the
features are extracted, then everything is computed in memory, and only then are the outputs written,
each atomically. Bad input therefore stops the run before anything is written under ``out_dir``.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from pathfocus.errors import InputError
from pathfocus.fileio import save_figure, write_csv, write_json
from pathfocus.markers.clinical import check_slide_files, covariate_columns, read_clinical, read_slides
from pathfocus.markers.defaults import FOLDS, MIN_EVENTS, PERMUTATIONS, REPEATS
from pathfocus.markers.features import RegionFeatures, as_region_features, read_region_features
from pathfocus.markers.gallery import gallery_figure
from pathfocus.markers.prototypes import Prototypes, fit_prototypes
from pathfocus.markers.spatial import cohort_summary, spatial_table
from pathfocus.markers.survival import N_MARKERS, PENALIZER, CrossValidation, fit_cohort_cox, km_figure
from pathfocus.markers.uniqueness import ALPHA, rank_by_outcome, uniqueness_table
from pathfocus.markers.validation import (
    NullDistribution,
    RepeatedValidation,
    permutation_null,
    repeated_cv,
    verdict,
    verdict_sentence,
)

log = logging.getLogger(__name__)

MARKERS_FILE = "markers.json"
SLIDES_FILE = "slides.csv"
REGIONS_FILE = "regions.csv"
KM_FILE = "km.png"
GALLERY_FILE = "prototypes.png"
FEATURES_FILE = "features.csv"  # written when features were extracted from a run: re-run with --features
FeatureInput = RegionFeatures | pd.DataFrame | str | os.PathLike[str]


def _check_options(k: int | None, folds: int, n_slides: int, n_markers: int, permutations: int,
                   out_dir: Path, repeats: int = 1) -> None:
    if k is not None and k < 2:
        msg = f"--k {k} is too small; markers need at least 2 prototypes (or leave --k out to choose it)"
        raise InputError(msg)
    if folds < 2 or folds > n_slides:
        msg = f"--folds {folds} must be between 2 and the number of slides ({n_slides})"
        raise InputError(msg)
    if n_markers < 1:
        msg = f"n_markers {n_markers} must be at least 1"
        raise InputError(msg)
    if permutations < 0:
        msg = f"--permutations {permutations} must be 0 (none) or more"
        raise InputError(msg)
    if repeats < 1:
        msg = f"--repeats {repeats} must be at least 1 (one cross-validation)"
        raise InputError(msg)
    if out_dir.exists() and not out_dir.is_dir():
        msg = f"--out {out_dir} is a file; pass a folder for the marker outputs"
        raise InputError(msg)


def _match_regions(regions: RegionFeatures, slides: pd.DataFrame) -> RegionFeatures:
    """Keep the regions of listed slides (matched by slide_id, else by file stem); every slide needs some."""
    by_stem = {Path(path).stem: slide_id for slide_id, path in slides["path"].items()}
    ids = np.array([s if s in slides.index else by_stem.get(s, s) for s in regions.slide_ids], dtype=object)
    regions = RegionFeatures(ids.astype(str), regions.boxes, regions.focus, regions.lesion, regions.features,
                             regions.crops)
    listed = np.isin(regions.slide_ids, slides.index.to_numpy())
    if not listed.all():
        extra = sorted(set(regions.slide_ids[~listed]))
        log.warning("ignoring regions of %d slides not in the slide list (e.g. %s)", len(extra), extra[0])
        regions = regions.subset(listed)
    absent = [s for s in slides.index if s not in set(regions.slide_ids)]
    if absent:
        msg = (f"no region features for the slides {', '.join(absent[:5])}; extract features for every "
               "listed slide or remove them from the slide list")
        raise InputError(msg)
    return regions


def _tracked(paths: list[Path], bar: Progress, description: str) -> Iterator[Path]:
    """Yield ``paths``, advancing a progress bar as each one is finished with (the consumer is lazy)."""
    task = bar.add_task(description, total=len(paths))
    for path in paths:
        yield path
        bar.advance(task)


def _load_regions(run_dir: str | os.PathLike[str] | None, features: FeatureInput | None,
                  slides: pd.DataFrame, slides_csv: str | os.PathLike[str], all_tissue: bool,
                  bar: Progress, cluster: str | None = None) -> tuple[RegionFeatures, str]:
    """The cohort's region features (extracted from the SEW run, or given) and where they came from."""
    if features is not None:
        if isinstance(features, str | os.PathLike):
            return read_region_features(features), f"region-feature table {features}"
        return as_region_features(features), "region features given in Python"
    if run_dir is None:
        msg = "pass a SEW run folder or a region-feature table (--features) to describe the slides"
        raise InputError(msg)
    from pathfocus.runs import read_run_config

    read_run_config(run_dir, kind="sew")
    check_slide_files(slides, str(slides_csv))
    from pathfocus.markers.extract import extract_region_features

    kind = "all tissue regions" if all_tissue else "focused regions"
    paths = _tracked([Path(p) for p in slides["path"]], bar, f"region features ({kind})")
    result = extract_region_features(run_dir, paths, all_tissue=all_tissue, cluster=cluster)
    return as_region_features(result, f"region features of run {run_dir}"), f"SEW run {run_dir} ({kind})"


def _clean(value: Any) -> Any:
    """JSON-ready copy: NaN and infinities become null (JSON has no NaN), numpy scalars plain numbers."""
    if isinstance(value, dict):
        return {str(key): _clean(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(item) for item in value]
    if isinstance(value, np.ndarray):
        return _clean(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def discover_markers(run_dir: str | os.PathLike[str] | None, slides_csv: str | os.PathLike[str],
                     clinical_csv: str | os.PathLike[str], out_dir: str | os.PathLike[str],
                     k: int | None = None, all_tissue: bool = True, folds: int = FOLDS, seed: int = 0,
                     features: FeatureInput | None = None, n_markers: int = N_MARKERS,
                     permutations: int = PERMUTATIONS, progress: bool = True,
                     repeats: int = REPEATS, cluster: str | None = None) -> dict[str, Any]:
    """Discover prognostic markers of a cohort and write them under ``out_dir``.

    Args:
        run_dir: a trained SEW run whose focused-region features are extracted (None with ``features``).
        slides_csv: ``labels.csv`` with ``slide_id, path`` (relative paths are read from its folder).
        clinical_csv: ``slide_id, time, event`` plus optional numeric covariates.
        out_dir: output folder (markers.json, slides.csv, regions.csv, km.png, prototypes.png, and
            features.csv when the features were extracted from ``run_dir``, to re-run without slides).
        k: number of prototypes; None chooses it by silhouette (3-8).
        all_tissue: describe every tissue region (default) rather than only the windows SEW focused on
            (False); only used with ``run_dir``. SEW chooses its windows for the slide label, and a
            prognostic pattern unrelated to that label is then sampled by chance in a few windows.
        folds: cross-validation folds (stratified by event) for the C-index, risk groups and log-rank.
        seed: seed of K-Means, fold assignments, shuffles and sampling.
        features: precomputed region features (a RegionFeatures, a DataFrame or a CSV path) instead of
            extracting them from ``run_dir``.
        n_markers: candidate markers per Cox model (top prototypes by outcome unevenness).
        permutations: rerun the repeated cross-validation this many times with outcomes shuffled
            between slides: the null distribution and permutation p-values (0: none, and no finding).
        progress: show rich progress bars on stderr.
        repeats: fold assignments the cross-validated C-index and log-rank statistic are averaged over.
        cluster: extract the region features one task per slide on this Dask cluster (a ``--cluster``
            value, see :mod:`pathfocus.slide.cluster`); None: in this process.

    Returns:
        The content of ``markers.json``.
    """
    out = Path(out_dir)
    slides = read_slides(slides_csv)
    clinical = read_clinical(clinical_csv, slides.index)
    _check_options(k, folds, len(slides), n_markers, permutations, out, repeats)
    columns = [TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
               TimeElapsedColumn()]
    with Progress(*columns, console=Console(stderr=True), disable=not progress) as bar:
        regions, source = _load_regions(run_dir, features, slides, slides_csv, all_tissue, bar, cluster)
        regions = _match_regions(regions, slides)
        found = _compute(regions, clinical, k, folds, seed, n_markers, bar, permutations, repeats)
        step = bar.add_task("figures", total=1)
        figures = _figures(found, regions, slides, folds)
        bar.advance(step)
    tables = _tables(found, regions)
    if features is None:
        tables[FEATURES_FILE] = regions.to_frame()
    result = _clean(_document(found, regions, folds, seed, n_markers, permutations, repeats)
                    | {"feature_source": source, "files": sorted([*tables, *figures])})
    for name, table in tables.items():
        write_csv(out / name, table)
    for name, figure in figures.items():
        save_figure(out / name, figure)
    write_json(out / MARKERS_FILE, result)
    return result


@dataclass
class Findings:
    """Everything computed for a cohort, in memory (written out only once all of it succeeded)."""

    clinical: pd.DataFrame
    prototypes: Prototypes
    proportions: pd.DataFrame
    uniqueness: pd.DataFrame
    spatial: pd.DataFrame
    validation: CrossValidation
    markers: list[str]
    cox: dict[str, dict]
    examples: dict[int, np.ndarray]
    permutation_p: float | None
    repeated: RepeatedValidation
    null: NullDistribution | None


def _compute(regions: RegionFeatures, clinical: pd.DataFrame, k: int | None, folds: int, seed: int,
             n_markers: int, bar: Progress, permutations: int = 0, repeats: int = 1) -> Findings:
    """All statistics of the cohort (nothing is written here)."""
    order = list(clinical.index)
    time, event = clinical["time"].to_numpy(), clinical["event"].to_numpy()
    covariates = clinical[covariate_columns(clinical)]
    step = bar.add_task("prototypes (K-Means)", total=1)
    prototypes = fit_prototypes(regions.features, k=k, seed=seed)
    proportions = prototypes.proportions(regions.slide_ids, order)
    bar.advance(step)
    step = bar.add_task("uniqueness and spatial statistics", total=2)
    uniqueness = uniqueness_table(prototypes, proportions, time, event, seed)
    bar.advance(step)
    spatial = spatial_table(regions, prototypes.labels, prototypes.k, order)
    bar.advance(step)
    step = bar.add_task(f"cross-validated survival ({repeats} x {folds} folds)", total=repeats + 1)
    repeated = repeated_cv(proportions, time, event, covariates, n_markers, folds, repeats, seed, PENALIZER,
                           on_repeat=lambda: bar.advance(step))
    markers = rank_by_outcome(proportions, time, event)[:n_markers]
    cox = fit_cohort_cox(proportions, time, event, markers, covariates, PENALIZER)
    bar.advance(step)
    null = None
    if permutations:
        step = bar.add_task("permutations (shuffled outcomes)", total=permutations)
        null = permutation_null(proportions, time, event, covariates, n_markers, folds, repeats, seed,
                                PENALIZER, permutations, on_step=lambda: bar.advance(step))
    chance = None if null is None else null.summary(repeated)["permutation_p"]
    return Findings(clinical, prototypes, proportions, uniqueness, spatial, repeated.first, markers, cox,
                    prototypes.examples(), chance, repeated, null)


def _figures(found: Findings, regions: RegionFeatures, slides: pd.DataFrame, folds: int) -> dict[str, Any]:
    """The Kaplan-Meier plot of one split's out-of-fold risk groups and the prototype gallery."""
    repeated, table = found.repeated, found.uniqueness
    low, high = repeated.c_index_interval
    chance = "no null" if found.permutation_p is None else f"permutation p {found.permutation_p:.3g}"
    time, event = found.clinical["time"].to_numpy(), found.clinical["event"].to_numpy()
    km = km_figure(time, event, found.validation.high_risk,
                   f"out-of-fold risk groups (one {folds}-fold split of {len(repeated.c_index_repeats)})\n"
                   f"C-index {repeated.c_index:.3f} [{low:.3f}, {high:.3f}], {chance}")
    titles = {c: f"p{c}\nsep {table.loc[f'p{c}', 'separability']:.2f}\nq {table.loc[f'p{c}', 'cox_q']:.2g}"
              for c in range(found.prototypes.k)}
    return {KM_FILE: km, GALLERY_FILE: gallery_figure(regions, found.examples, slides, titles)}


def _document(found: Findings, regions: RegionFeatures, folds: int, seed: int, n_markers: int,
              permutations: int, repeats: int) -> dict:
    """The content of markers.json."""
    prototypes, table, validation = found.prototypes, found.uniqueness, found.validation
    repeated = found.repeated
    items = [{"name": f"p{c}", "n_regions": int((prototypes.labels == c).sum()),
              "centroid": prototypes.centroids[c].tolist(),
              "examples": [{"slide_id": regions.slide_ids[i],
                            **dict(zip("xywh", regions.boxes[i], strict=True))} for i in found.examples[c]]}
             for c in range(prototypes.k)]
    n_events = int(found.clinical["event"].sum())
    null = {} if found.null is None else found.null.summary(repeated)
    kind, reasons = verdict(n_events, repeated.c_index, repeated.c_index_interval, null.get("permutation_p"))
    return {
        "n_slides": len(found.clinical), "n_regions": len(regions), "n_events": n_events,
        "prototypes": {"k": prototypes.k, "criterion": prototypes.criterion,
                       "k_silhouette": {str(c): s for c, s in prototypes.k_scores.items()}, "items": items},
        "uniqueness": {name: row.to_dict() for name, row in table.iterrows()},
        "alpha": ALPHA,
        "correction": "Benjamini-Hochberg over the K prototypes (univariate Cox, score test)",
        "significant_markers": table.index[table["significant"]].tolist(),
        "spatial": cohort_summary(found.spatial, prototypes.k),
        "spatial_units": "level-0 pixels between region centres",
        "candidate_markers": found.markers,
        "cox": {"penalizer": PENALIZER, "scaling": "per standard deviation", "coefficients": found.cox,
                "note": "fitted on the whole cohort: descriptive, not a performance estimate"},
        "verdict": kind, "inconclusive": kind != "finding", "verdict_reasons": reasons,
        "verdict_text": verdict_sentence(kind, reasons), "min_events": MIN_EVENTS,
        "c_index": repeated.c_index,
        "c_index_interval": list(repeated.c_index_interval),
        "c_index_interval_kind": "2.5 and 97.5 percentiles over the repeats: fold-assignment variation only",
        "c_index_estimator": ("Harrell's C counted within each held-out fold (pairs scored by the same "
                              "model), over the folds of a repeat, averaged over repeats"),
        "c_index_repeats": repeated.c_index_repeats,
        "c_index_folds": validation.c_index_folds,
        "null_mean": null.get("null_mean"), "null_sd": null.get("null_sd"),
        "permutation_p": null.get("permutation_p"),
        "c_index_permutation_p": found.permutation_p,
        "permutations": permutations,
        "logrank_z": repeated.logrank_z,
        "logrank_statistic": "one-sided log-rank z of the out-of-fold risk groups, stratified by fold, "
                             "averaged over repeats (positive: the high-risk group dies sooner)",
        "logrank_null_mean": null.get("logrank_null_mean"), "logrank_null_sd": null.get("logrank_null_sd"),
        "logrank_permutation_p": null.get("logrank_permutation_p"),
        "logrank_p": validation.logrank_p,
        "logrank_test": ("one-sided (high-risk group dies sooner), out-of-fold risk groups of the first "
                         "split (km.png); nominal: logrank_permutation_p accounts for the selection"),
        "logrank_p_two_sided": validation.logrank_p_two_sided,
        "cross_validation": {"folds": folds, "repeats": repeats, "seed": seed, "n_markers": n_markers,
                             "stratified_by": "event",
                             "model": "ridge Cox on the fold's top markers (one Newton step)",
                             "selected_per_fold": validation.selected, "thresholds": validation.thresholds,
                             "n_high_risk": int(validation.high_risk.sum()),
                             "c_index_pooled_first_split": validation.c_index_pooled,
                             "c_index_pooled_note": ("out-of-fold risks of different models pooled: biased "
                                                     "low on small cohorts, shown for comparison only")},
    }


def _tables(found: Findings, regions: RegionFeatures) -> dict[str, pd.DataFrame]:
    """slides.csv (one row per slide) and regions.csv (one row per region with its prototype)."""
    order = list(found.clinical.index)
    per_slide = pd.concat([found.clinical[["time", "event"]], found.proportions, found.spatial], axis=1)
    per_slide.insert(2, "n_regions", pd.Series(regions.slide_ids).value_counts().reindex(order).to_numpy())
    per_slide["cv_fold"] = found.validation.fold
    per_slide["cv_risk"] = found.validation.risk
    per_slide["cv_high_risk"] = found.validation.high_risk.astype(int)
    region_table = regions.to_frame()[["slide_id", "x", "y", "w", "h", "focus", "lesion"]]
    region_table["prototype"] = found.prototypes.labels
    return {SLIDES_FILE: per_slide.reset_index(names="slide_id"), REGIONS_FILE: region_table}
