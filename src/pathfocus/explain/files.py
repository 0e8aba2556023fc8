"""Explain image files with a patch run: what ``pathfocus explain RUN IMAGES... --out DIR`` does.

Loads the run's model (architecture and classes checked), feeds the images exactly as evaluation does
(the run's image size, mean and std), writes an explain folder (see :mod:`pathfocus.explain.outputs`)
and, when ground-truth masks of the discriminative structures are given, scores each map against its
mask (energy share, pointing game) so KFDE and the baseline can be compared on the same images.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pathfocus.errors import InputError
from pathfocus.explain.gradcam import explain_images, preprocess
from pathfocus.explain.localisation import score_map, score_maps
from pathfocus.explain.outputs import ExplainedImage, unique_names, write_explanations

log = logging.getLogger(__name__)
MASK_SUFFIXES = ("_mask", "-mask", ".mask", "")


def explain_files(
    run_dir: str | os.PathLike[str],
    images: Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    class_name: str | None = None,
    method: str = "gradcam",
    masks_dir: str | os.PathLike[str] | None = None,
    device: str | None = None,
    batch_size: int = 16,
) -> Path:
    """Explain image files (or folders of them) with the run's model; return the ``explain.json`` path.

    Args:
        run_dir: a patch run folder.
        images: image files or folders (searched recursively).
        out_dir: the explain folder to write.
        class_name: explain this class for every image instead of each image's predicted class.
        method: a Grad-CAM method of :data:`pathfocus.explain.gradcam.METHODS`.
        masks_dir: folder of ground-truth masks named like the images (``<stem>_mask.png`` or
            ``<stem>.png``); images without a mask are explained but not scored.
    """
    from pathfocus.data.patches import load_rgb
    from pathfocus.engines.patch import expand_images, load_patch_model

    model, config = load_patch_model(run_dir, device)
    names = [str(n) for n in config["class_names"]]
    target = _class_index(class_name, names, run_dir)
    paths, pixels = [], []
    masks_root = Path(masks_dir).resolve() if masks_dir is not None else None
    for path in expand_images(images):
        if masks_root is not None and masks_root in path.resolve().parents:
            continue  # a synthetic tree holds its masks inside it: they are not images to explain
        try:
            pixels.append(np.asarray(load_rgb(path)))
        except (OSError, ValueError) as error:
            log.warning("skipping %s: not a readable image (%s)", path, error)
            continue
        paths.append(path)
    if not paths:
        msg = f"none of the images in {', '.join(map(str, images))} could be read; check the files"
        raise InputError(msg)
    batch = preprocess(pixels, int(config["image_size"]), config["mean"], config["std"])
    explanations = explain_images(model, batch, target_class=target, method=method, batch_size=batch_size)
    masks = find_masks(masks_dir, paths) if masks_dir is not None else [None] * len(paths)
    items = []
    for name, path, image, explanation, mask in zip(unique_names(paths), paths, pixels, explanations, masks,
                                                    strict=True):
        scores = score_map(explanation.heatmap, mask) if mask is not None else None
        items.append(ExplainedImage(name, os.fspath(path), image, explanation,
                                    explanation.predicted if target is None else target, scores))
    localisation = None
    scored = [(e.heatmap, m) for e, m in zip(explanations, masks, strict=True) if m is not None]
    if scored:
        localisation = score_maps([h for h, _ in scored], [m for _, m in scored])
        localisation.pop("per_image")
    header: dict[str, Any] = {"run": os.fspath(Path(run_dir).resolve()), "model": config["model"],
                              "method": method, "requested_class": class_name}
    return write_explanations(out_dir, items, names, header, localisation)


def find_masks(masks_dir: str | os.PathLike[str], images: Sequence[Path]) -> list[np.ndarray | None]:
    """The mask of each image found in ``masks_dir`` (recursively) by stem, or None where there is none."""
    from PIL import Image

    folder = Path(masks_dir)
    if not folder.is_dir():
        msg = f"mask folder {folder} does not exist; pass the folder the patches' masks were written to"
        raise InputError(msg)
    by_stem = {p.stem: p for p in sorted(folder.rglob("*.png"))}
    masks: list[np.ndarray | None] = []
    for image in images:
        found = next((by_stem[image.stem + s] for s in MASK_SUFFIXES if image.stem + s in by_stem), None)
        if found is None or found.resolve() == image.resolve():
            log.warning("no mask for %s in %s; it is explained but not scored", image, folder)
            masks.append(None)
            continue
        with Image.open(found) as handle:
            masks.append(np.asarray(handle.convert("L")) > 127)
    return masks


def _class_index(class_name: str | None, names: list[str], run_dir: str | os.PathLike[str]) -> int | None:
    if class_name is None:
        return None
    if class_name not in names:
        msg = f"class {class_name!r} is not one of the run's classes {names} ({run_dir})"
        raise InputError(msg)
    return names.index(class_name)
