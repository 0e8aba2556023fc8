"""Patch inference: rebuild a patch run's model and turn images into class probabilities.

What evaluation, prediction, Grad-CAM and SEW's ``kfde:`` embeddings all need from a trained patch run:
the model rebuilt from ``config.json`` (weights checked, never unpickled), the preprocessing it was
trained with, and batched softmax probabilities.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from pathfocus.data.patches import eval_transforms
from pathfocus.devices import pick_device
from pathfocus.errors import CheckpointError, InputError
from pathfocus.models.backbones import DataConfig
from pathfocus.runs import load_run_weights, read_run_config

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")


def load_patch_model(run_dir: str | os.PathLike[str],
                     device: str | None = None) -> tuple[torch.nn.Module, dict[str, Any]]:
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


def run_data_config(config: dict[str, Any]) -> DataConfig:
    """The preprocessing a patch run was trained with (image size and normalisation, from config.json)."""
    return DataConfig(tuple(config["mean"]), tuple(config["std"]), int(config["image_size"]))


def run_eval_transforms(config: dict[str, Any]) -> Any:
    """The deterministic transforms of a patch run (its image size and normalisation)."""
    data = run_data_config(config)
    return eval_transforms(data.input_size, data.mean, data.std)


@torch.inference_mode()
def predict_dataset(model: torch.nn.Module, dataset: Dataset, batch_size: int = 32,
                    workers: int = 0) -> np.ndarray:
    """Softmax probabilities for every sample of ``dataset``, in order (N x classes)."""
    device = next(model.parameters()).device
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=workers)
    chunks = [torch.softmax(model(images.to(device)), dim=1).float().cpu() for images, _ in loader]
    return torch.cat(chunks).numpy()


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
