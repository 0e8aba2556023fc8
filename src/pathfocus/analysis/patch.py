"""Patch runs after training: predict images, evaluate the held-out test split.

The test split is the one recorded in the run's own config (index, splits, fold, magnification), so
``evaluate`` always measures patients the model never saw in training.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pathfocus.data.patches import PatchDataset
from pathfocus.engines.patch import expand_images, load_patch_model, predict_dataset, run_eval_transforms
from pathfocus.fileio import write_csv, write_json
from pathfocus.metrics import classification_metrics, plot_confusion_matrix
from pathfocus.runs import EVAL_DIR, EVAL_METRICS_FILE

log = logging.getLogger(__name__)


def predict_images(
    run_dir: str | os.PathLike[str],
    images: Sequence[str | os.PathLike[str]],
    batch_size: int = 32,
    device: str | None = None,
) -> pd.DataFrame:
    """Predict image files (or folders of images): one row per readable image, unreadable ones warned."""
    paths = expand_images(images)
    model, config = load_patch_model(run_dir, device)
    dataset = PatchDataset(paths, [0] * len(paths), run_eval_transforms(config))
    probabilities = predict_dataset(model, dataset, batch_size)
    names = config["class_names"]
    table = pd.DataFrame(
        {
            "path": [os.fspath(p) for p in dataset.paths],
            "predicted": [names[i] for i in probabilities.argmax(axis=1)],
        }
    )
    for k, name in enumerate(names):
        table[f"prob_{name}"] = probabilities[:, k]
    return table


def patient_recognition_rate(patients: Sequence[str], correct: Sequence[bool]) -> float:
    """Mean over patients of each patient's share of correctly classified images (BreakHis protocol)."""
    frame = pd.DataFrame({"patient": list(patients), "correct": np.asarray(correct, dtype=float)})
    return float(frame.groupby("patient")["correct"].mean().mean())


def evaluate_patch_run(
    run_dir: str | os.PathLike[str], device: str | None = None, batch_size: int = 32
) -> dict[str, Any]:
    """Score the run on its test split; writes ``eval/metrics.json``, the confusion matrix and predictions."""
    from pathfocus.data.breakhis import encode_labels
    from pathfocus.data.breakhis_splits import fold_table

    run = Path(run_dir)
    model, config = load_patch_model(run, device)
    data = config["training"]["data"]
    test = fold_table(data["index"], data["splits"], data["fold"], data["magnification"])
    test = test[test["subset"] == "test"].reset_index(drop=True)
    labels = encode_labels(test, data["task"])
    dataset = PatchDataset(test["path"].tolist(), labels, run_eval_transforms(config))
    kept = test.set_index("path").loc[[os.fspath(p) for p in dataset.paths]].reset_index()
    probabilities = predict_dataset(model, dataset, batch_size)
    names = config["class_names"]
    scores = classification_metrics(dataset.labels, probabilities, names)
    predicted = probabilities.argmax(axis=1)
    correct = predicted == np.asarray(dataset.labels)
    metrics = {
        "image_accuracy": scores.pop("accuracy"),
        "patient_recognition_rate": patient_recognition_rate(kept["patient_id"].astype(str), correct),
        **scores,
        "n_images": len(dataset),
        "n_patients": int(kept["patient_id"].nunique()),
        "n_skipped": len(dataset.skipped),
        "fold": data["fold"],
        "magnification": data["magnification"],
        "task": data["task"],
    }
    out = run / EVAL_DIR
    predictions = pd.DataFrame(
        {
            "path": kept["path"],
            "patient_id": kept["patient_id"],
            "true": dataset.labels,
            "predicted": predicted,
        }
    )
    for k, name in enumerate(names):
        predictions[f"prob_{name}"] = probabilities[:, k]
    write_csv(out / "predictions.csv", predictions)
    plot_confusion_matrix(
        metrics["confusion_matrix"],
        names,
        out / "confusion_matrix.png",
        title=f"{config['model']['name']} — test patients",
    )
    write_json(out / EVAL_METRICS_FILE, metrics)
    return metrics
