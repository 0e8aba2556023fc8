"""Local backbone weights (``--weights FILE``): the offline way to start from a pretrained backbone.

Checkpoints of timm models usually carry a classifier for another number of classes and sometimes a
``model.`` / ``backbone.`` prefix; only tensors whose names and shapes match the backbone are taken,
and too few matches is an error rather than a silently random backbone.
"""

from __future__ import annotations

import logging
from pathlib import Path

from safetensors.torch import load_file
from torch import nn

from pathfocus.errors import CheckpointError, InputError

log = logging.getLogger(__name__)
_PREFIXES = ("", "model.", "backbone.", "module.", "encoder.")
MIN_MATCHED_SHARE = 0.9


def load_backbone_weights(backbone: nn.Module, path: str | Path) -> int:
    """Copy matching tensors from a safetensors file into ``backbone``; returns how many were loaded."""
    file = Path(path)
    if not file.is_file():
        msg = f"weights file {file} does not exist; pass a local .safetensors file of the backbone"
        raise InputError(msg)
    if file.suffix != ".safetensors":
        msg = f"{file} is not a .safetensors file; convert it (pickled .pth/.bin files are never loaded)"
        raise InputError(msg)
    try:
        saved = load_file(str(file))
    except Exception as error:  # safetensors raises its own types for corrupt headers
        msg = f"{file} is not a readable safetensors file ({error})"
        raise CheckpointError(msg) from error
    target = backbone.state_dict()
    best: dict = {}
    for prefix in _PREFIXES:
        stripped = {k[len(prefix) :]: v for k, v in saved.items() if k.startswith(prefix)}
        matched = {
            k: v for k, v in stripped.items() if k in target and tuple(v.shape) == tuple(target[k].shape)
        }
        if len(matched) > len(best):
            best = matched
    share = len(best) / max(1, len(target))
    if share < MIN_MATCHED_SHARE:
        msg = (
            f"{file} matches only {len(best)} of the backbone's {len(target)} tensors; is it a checkpoint of "
            "the backbone given with --backbone?"
        )
        raise CheckpointError(msg)
    backbone.load_state_dict(best, strict=False)
    log.info("loaded %d/%d backbone tensors from %s", len(best), len(target), file)
    return len(best)
