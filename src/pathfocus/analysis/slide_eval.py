"""Held-out evaluation of a slide run (SEW or MIL): analyse every test slide, score the predictions.

The test slides come from ``RUN/splits.csv`` (written at training time), the slides' files and labels
from the labels CSV the run was trained on (``config["slides_csv"]``) unless another is given. Every
number in ``RUN/eval/metrics.json`` can be recomputed from ``RUN/eval/predictions.csv``.
"""

from __future__ import annotations

import logging
import os
import statistics
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pathfocus.analysis.analyzers import load_analyzer
from pathfocus.analysis.localisation import LocalisationScore, lesion_mask_of, score_regions, summarise
from pathfocus.data.slide_labels import (
    SPLITS_FILE,
    display_class_names,
    read_slide_labels,
    read_slide_splits,
    subset_table,
)
from pathfocus.errors import CheckpointError, InputError, PathfocusError
from pathfocus.fileio import write_csv, write_json
from pathfocus.metrics import classification_metrics, plot_confusion_matrix
from pathfocus.runs import EVAL_DIR, EVAL_METRICS_FILE, read_run_config

log = logging.getLogger(__name__)


def evaluate_slide_run(
    run_dir: str | os.PathLike[str],
    slides_csv: str | os.PathLike[str] | None = None,
    device: str | None = None,
    subset: str = "test",
    annotations: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Analyse the run's ``subset`` slides and write ``RUN/eval/{metrics.json, confusion_matrix.png,
    predictions.csv}``; return the metrics.

    Metrics: accuracy, balanced_accuracy, macro_f1, auc (one-vs-rest macro for > 2 classes),
    confusion_matrix, class_names, n_slides, and the median seconds and high-magnification pixels
    read per slide. Where lesion annotations exist (``annotations``, else a ``masks`` folder beside the
    labels CSV, as synthetic cohorts have), also the lesion hit rate and precision@k of the regions each
    slide's analysis looked at (see :mod:`pathfocus.analysis.localisation`).
    """
    run = Path(run_dir)
    config = read_run_config(run, kind=("sew", "mil"))
    class_names = [str(name) for name in config["class_names"]]
    labels_path = slides_csv if slides_csv is not None else config.get("slides_csv")
    if labels_path is None:
        msg = f"{run}/config.json does not say which slides it was trained on; pass the labels CSV"
        raise CheckpointError(msg)
    labels = read_slide_labels(labels_path)
    splits_path = run / SPLITS_FILE
    if not splits_path.is_file():
        msg = f"{run} has no {SPLITS_FILE}; it was not written by `pathfocus train sew|mil`"
        raise CheckpointError(msg)
    chosen = subset_table(labels, read_slide_splits(splits_path, labels), subset)
    if chosen.empty:
        msg = f"no {subset} slides of {labels_path} are in {splits_path}; check the labels CSV is the run's"
        raise InputError(msg)
    unknown = sorted(set(chosen["label"]) - set(class_names))
    if unknown:
        msg = f"labels {unknown} in {labels_path} are not classes of the run ({class_names})"
        raise InputError(msg)

    analyzer = load_analyzer(run, device=device)
    masks = _annotation_folder(annotations, Path(labels_path))
    rows, failed, localised = [], [], []
    for slide in chosen.itertuples(index=False):
        try:
            analysis = analyzer.analyze(Path(slide.path))
        except PathfocusError as error:  # counted and reported, never a silent gap
            log.warning("cannot analyse %s: %s", slide.slide_id, error)
            failed.append(f"{slide.slide_id}: {error}")
            continue
        log.info("%s: %s (true %s) in %.2f s", slide.slide_id, analysis.label, slide.label, analysis.seconds)
        rows.append(
            {
                "slide_id": slide.slide_id,
                "true": class_names.index(slide.label),
                "probabilities": analysis.probabilities,
                "seconds": analysis.seconds,
                "pixels_read": analysis.pixels_read,
                "lesion_hit": None,
            }
        )
        if masks is not None and class_names.index(slide.label) != 0:
            score = _localise(masks, analysis, Path(slide.path))
            if score is not None:
                localised.append(score)
                rows[-1]["lesion_hit"] = score.hit
    if not rows:
        msg = f"none of the {len(chosen)} {subset} slides could be analysed ({'; '.join(failed[:3])})"
        raise InputError(msg)
    probabilities = np.asarray([row["probabilities"] for row in rows], dtype=float)
    y_true = np.asarray([row["true"] for row in rows], dtype=int)
    names = display_class_names(config)  # what people read: names where labels.csv or training gave them
    metrics = classification_metrics(y_true, probabilities, names)
    metrics.update(
        {
            "n_slides": len(rows),
            "n_failed": len(failed),
            "failed": failed,
            "subset": subset,
            "kind": config["kind"],
            "seconds_per_slide": statistics.median(row["seconds"] for row in rows),
            "pixels_read_per_slide": statistics.median(row["pixels_read"] for row in rows),
            **summarise(localised),
            "regions_per_slide": statistics.median(len(r.fractions) for r in localised)
            if localised
            else None,
        }
    )
    _write(run / EVAL_DIR, rows, probabilities, names, metrics)
    return metrics


def _write(
    out: Path,
    rows: list[dict[str, Any]],
    probabilities: np.ndarray,
    class_names: list[str],
    metrics: dict[str, Any],
) -> None:
    table = pd.DataFrame(
        {
            "slide_id": [row["slide_id"] for row in rows],
            "true": [row["true"] for row in rows],
            "predicted": probabilities.argmax(axis=1),
        }
    )
    for index, name in enumerate(class_names):
        table[f"prob_{name}"] = probabilities[:, index]
    table["seconds"] = [row["seconds"] for row in rows]
    table["pixels_read"] = [row["pixels_read"] for row in rows]
    table["lesion_hit"] = [row["lesion_hit"] for row in rows]
    write_csv(out / "predictions.csv", table)
    plot_confusion_matrix(
        metrics["confusion_matrix"],
        class_names,
        out / "confusion_matrix.png",
        title=f"{metrics['kind']} slides ({metrics['subset']})",
    )
    write_json(out / EVAL_METRICS_FILE, metrics)


def _annotation_folder(given: str | os.PathLike[str] | None, labels_csv: Path) -> Path | None:
    """The annotations to score localisation against: the given folder, else ``masks/`` beside the labels."""
    if given is not None:
        folder = Path(given)
        if not folder.is_dir():
            msg = (f"annotation folder {folder} does not exist; pass the folder of "
                   "<slide_id>.geojson/.xml/_lesion.png")
            raise InputError(msg)
        return folder
    beside = labels_csv.parent / "masks"
    return beside if any(beside.glob("*_lesion.png")) else None


def _localise(masks: Path, analysis: Any, slide_path: Path) -> LocalisationScore | None:
    from pathfocus.slide.reader import open_slide

    with open_slide(slide_path) as slide:
        size, mpp = slide.dimensions, slide.mpp
    lesion = lesion_mask_of(masks, analysis.slide_id, size, mpp)
    if lesion is None or not lesion.any:
        return None
    return score_regions(analysis.slide_id, analysis.regions, lesion)
