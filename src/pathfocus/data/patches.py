"""Patch images as a torch Dataset, with the transforms used to train and evaluate on them.

Unreadable files are a fact of life in downloaded datasets (truncated PNGs, stray non-images). They are
found once, up front, by :func:`find_unreadable`, skipped with a warning naming each, and exposed as
``PatchDataset.skipped`` so a run summary can count them. A file that still fails to decode mid-epoch
(e.g. it changed on disk) is logged and replaced by the next readable sample, so the epoch goes on.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch.utils.data import Dataset
from torchvision import tv_tensors
from torchvision.transforms import v2

from pathfocus.data.breakhis import class_names, encode_labels
from pathfocus.errors import InputError

__all__ = [
    "PatchDataset",
    "RandomRot90",
    "class_names",
    "encode_labels",
    "eval_transforms",
    "find_unreadable",
    "train_transforms",
]

logger = logging.getLogger(__name__)

_MAX_SUBSTITUTES = 16


def find_unreadable(paths: Sequence[str | os.PathLike[str]], workers: int | None = None) -> list[Path]:
    """The files among ``paths`` that PIL cannot open and verify (missing, truncated, not an image).

    Verification checks the file structure (and PNG checksums) without decoding pixels, so it is fast;
    files are checked on a few threads. Each unreadable file is logged as a warning with the reason.
    """
    paths = [Path(p) for p in paths]
    workers = workers or min(8, (os.cpu_count() or 1) + 2)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        problems = list(pool.map(_problem, paths))
    bad = []
    for path, problem in zip(paths, problems, strict=True):
        if problem is not None:
            logger.warning("skipping unreadable image %s (%s)", path, problem)
            bad.append(path)
    return bad


class PatchDataset(Dataset):
    """RGB patches with integer labels, loaded with PIL and passed through ``transform``.

    Args:
        paths: image files.
        labels: one integer class per path (see :func:`encode_labels`).
        transform: applied to the PIL RGB image (e.g. :func:`train_transforms`); None returns PIL.
        check: verify every file up front and drop the unreadable ones (listed in ``skipped``).

    Items are ``(image, label)``. ``paths`` and ``labels`` hold only the kept samples, in order.
    """

    def __init__(
        self,
        paths: Sequence[str | os.PathLike[str]],
        labels: Sequence[int],
        transform: Callable[[Image.Image], Any] | None = None,
        check: bool = True,
    ) -> None:
        if len(paths) != len(labels):
            msg = f"got {len(paths)} paths but {len(labels)} labels; pass one label per image."
            raise InputError(msg)
        all_paths = [Path(p) for p in paths]
        self.skipped: list[Path] = find_unreadable(all_paths) if check else []
        bad = set(self.skipped)
        kept = [(p, int(y)) for p, y in zip(all_paths, labels, strict=True) if p not in bad]
        if not kept:
            msg = f"none of the {len(all_paths)} images could be read; check the paths in the index."
            raise InputError(msg)
        self.paths = [p for p, _ in kept]
        self.labels = [y for _, y in kept]
        self.transform = transform
        #: Files that failed to decode during iteration (in this process; workers keep their own).
        self.failed: list[Path] = []

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[Any, int]:
        for attempt in range(min(_MAX_SUBSTITUTES, len(self.paths))):
            j = (i + attempt) % len(self.paths)
            try:
                image = load_rgb(self.paths[j])
            except (OSError, ValueError) as error:
                logger.warning(
                    "could not read %s mid-epoch (%s); using the next sample.", self.paths[j], error
                )
                self.failed.append(self.paths[j])
                continue
            return (self.transform(image) if self.transform else image), self.labels[j]
        msg = (
            f"{_MAX_SUBSTITUTES} images in a row from {self.paths[i]} on could not be read; check the files."
        )
        raise InputError(msg)


def load_rgb(path: str | os.PathLike[str]) -> Image.Image:
    """Decode an image file fully into an RGB PIL image (raises OSError/ValueError if it cannot)."""
    with Image.open(path) as image:
        return image.convert("RGB")


class RandomRot90(v2.Transform):
    """Rotate by a random multiple of 90 degrees: exact, lossless and meaningful for histology,
    which has no canonical orientation."""

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        return {"k": int(torch.randint(0, 4, ()).item())}

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        if not params["k"]:
            return inpt
        rotated = torch.rot90(inpt, params["k"], dims=(-2, -1))
        return tv_tensors.wrap(rotated, like=inpt) if isinstance(inpt, tv_tensors.TVTensor) else rotated


Stats = tuple[float, float, float]


def train_transforms(image_size: int, mean: Stats, std: Stats) -> v2.Compose:
    """Resize to a square, random flips and 90-degree rotations, mild H&E colour jitter, normalise.

    Jitter stays small in hue so haematoxylin stays purple and eosin pink (stain variation between labs,
    not a new stain). Output: float tensor 3 x image_size x image_size, normalised with the model's own
    ``mean`` and ``std`` (see :class:`pathfocus.models.backbones.DataConfig`).
    """
    return v2.Compose(
        [
            v2.ToImage(),
            v2.Resize((image_size, image_size), antialias=True),
            v2.RandomHorizontalFlip(),
            v2.RandomVerticalFlip(),
            RandomRot90(),
            v2.ColorJitter(brightness=0.15, contrast=0.15, saturation=0.1, hue=0.03),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(mean, std),
        ]
    )


def eval_transforms(image_size: int, mean: Stats, std: Stats) -> v2.Compose:
    """Resize to a square and normalise: the deterministic counterpart of :func:`train_transforms`."""
    return v2.Compose(
        [
            v2.ToImage(),
            v2.Resize((image_size, image_size), antialias=True),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(mean, std),
        ]
    )


def _problem(path: Path) -> str | None:
    """Why ``path`` cannot be used as an image, or None if it can."""
    try:
        with Image.open(path) as image:
            image.verify()
    except (OSError, ValueError, SyntaxError) as error:  # PIL raises SyntaxError for some broken files
        return str(error) or type(error).__name__
    return None
