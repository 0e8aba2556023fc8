"""Patch runs after training: load the model back, predict images, evaluate the held-out test split.

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
import torch
from torch.utils.data import DataLoader

from pathfocus.data.patches import PatchDataset, eval_transforms
from pathfocus.devices import pick_device
from pathfocus.errors import CheckpointError, InputError
from pathfocus.fileio import write_csv, write_json
from pathfocus.runs import load_run_weights, read_run_config
from pathfocus.training.metrics import classification_metrics, plot_confusion_matrix

log = logging.getLogger(__name__)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")


def load_patch_model(
    run_dir: str | os.PathLike[str], device: str | None = None
) -> tuple[torch.nn.Module, dict]:
    """Rebuild the run's model from ``config.json`` and load its weights (checked, no pickle)."""
    from pathfocus.models.kfde import ModelConfig, build_model

    config = read_run_config(run_dir, kind="patch")
    spec = config["model"]
    if spec["num_classes"] != len(config["class_names"]):
        names = len(config["class_names"])
        msg = f"{run_dir}: config has {spec['num_classes']} outputs but {names} class names"
        raise CheckpointError(msg)
    model = build_model(ModelConfig.from_dict(spec), pretrained=False)
    load_run_weights(run_dir, model)
    return model.to(pick_device(device)).eval(), config


@torch.inference_mode()
def predict_dataset(
    model: torch.nn.Module, dataset: PatchDataset, batch_size: int = 32, workers: int = 0
) -> np.ndarray:
    """Softmax probabilities for every sample of ``dataset``, in order (N x classes)."""
    device = next(model.parameters()).device
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=workers)
    chunks = [torch.softmax(model(images.to(device)), dim=1).float().cpu() for images, _ in loader]
    return torch.cat(chunks).numpy()


def predict_images(
    run_dir: str | os.PathLike[str],
    images: Sequence[str | os.PathLike[str]],
    batch_size: int = 32,
    device: str | None = None,
) -> pd.DataFrame:
    """Predict image files (or folders of images): one row per readable image, unreadable ones warned."""
    paths = expand_images(images)
    model, config = load_patch_model(run_dir, device)
    dataset = PatchDataset(paths, [0] * len(paths), eval_transforms(config["image_size"]))
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


def expand_images(images: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """Image files given directly or found (recursively) in the given folders."""
    paths: list[Path] = []
    for item in map(Path, images):
        if item.is_dir():
            paths.extend(sorted(p for p in item.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES))
        elif item.exists():
            paths.append(item)
        else:
            msg = f"{item} does not exist; pass image files or folders of images"
            raise InputError(msg)
    if not paths:
        msg = f"no images ({', '.join(IMAGE_SUFFIXES)}) found in {', '.join(map(str, images))}"
        raise InputError(msg)
    return paths


def patient_recognition_rate(patients: Sequence[str], correct: Sequence[bool]) -> float:
    """Mean over patients of each patient's share of correctly classified images (BreakHis protocol)."""
    frame = pd.DataFrame({"patient": list(patients), "correct": np.asarray(correct, dtype=float)})
    return float(frame.groupby("patient")["correct"].mean().mean())


def evaluate_patch_run(
    run_dir: str | os.PathLike[str], device: str | None = None, batch_size: int = 32
) -> dict[str, Any]:
    """Score the run on its test split; writes ``eval/metrics.json``, the confusion matrix and predictions."""
    from pathfocus.data.breakhis import encode_labels
    from pathfocus.training.patch_data import PatchDataConfig, fold_table

    run = Path(run_dir)
    model, config = load_patch_model(run, device)
    data_config = PatchDataConfig(**config["training"]["data"])
    test = fold_table(data_config)
    test = test[test["subset"] == "test"].reset_index(drop=True)
    labels = encode_labels(test, data_config.task)
    dataset = PatchDataset(test["path"].tolist(), labels, eval_transforms(config["image_size"]))
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
        "fold": data_config.fold,
        "magnification": data_config.magnification,
        "task": data_config.task,
    }
    out = run / "eval"
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
    write_json(out / "metrics.json", metrics)
    return metrics
