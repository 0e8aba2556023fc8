"""Tile encoders as files and records: build one from its spec, save and load encoder folders, fingerprint.

An encoder folder (``pathfocus train encoder --out DIR``, or the cache entry of the default ``ssl``
encoder) holds ``config.json`` (``kind: encoder``, backbone, input size, normalisation, how it was made)
and ``model.safetensors`` (the backbone's weights). Runs that use an encoder record it with
:func:`encoder_record` and keep its weights inside their own safetensors, so analysis never needs the
folder, the hub or the network again.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from pathfocus.errors import CheckpointError, InputError
from pathfocus.fileio import read_json, write_json
from pathfocus.models.backbones import TileEncoderSpec, load_backbone_weights
from pathfocus.models.tile_encoder import TileEncoder
from pathfocus.runs import load_safetensors_into

ENCODER_KIND = "encoder"
CONFIG_FILE, WEIGHTS_FILE = "config.json", "model.safetensors"


def build_encoder(spec: TileEncoderSpec) -> TileEncoder:
    """The encoder of a ``timm``, ``hub`` or ``ssl:DIR`` spec (an ``ssl`` one is pretrained by training)."""
    if spec.kind == "ssl":
        msg = (
            "the default 'ssl' encoder is pretrained on a cohort's training slides by "
            "`train sew|mil|encoder`; "
            "to use one elsewhere pass --encoder ssl:DIR"
        )
        raise InputError(msg)
    if spec.kind == "ssl-dir":
        return load_encoder_folder(spec.folder, spec.input_size)
    encoder = TileEncoder(
        spec.timm_name, input_size=spec.input_size, pretrained=spec.pretrained or spec.kind == "hub"
    )
    if spec.weights:
        load_backbone_weights(encoder.backbone, spec.weights)
    return encoder


def load_encoder_folder(folder: str | os.PathLike[str] | None, input_size: int | None = None) -> TileEncoder:
    """The encoder saved in ``folder`` (at its own input size unless ``input_size`` is given)."""
    folder = Path(folder or "")
    config_path = folder / CONFIG_FILE
    if not config_path.is_file():
        msg = (
            f"{folder} is not an encoder folder (no {CONFIG_FILE}); pass what `pathfocus train encoder` wrote"
        )
        raise CheckpointError(msg)
    config = read_json(config_path)
    if config.get("kind") != ENCODER_KIND:
        msg = f"{folder} holds a {config.get('kind')!r} run, not an encoder"
        raise CheckpointError(msg)
    encoder = TileEncoder(str(config["backbone"]), input_size=input_size or int(config["input_size"]))
    load_safetensors_into(folder / WEIGHTS_FILE, encoder.backbone)
    return encoder


def save_encoder_folder(folder: Path, encoder: TileEncoder, details: dict[str, Any]) -> None:
    """Write ``encoder`` (weights, then the config that marks the folder complete) with ``details``."""
    from safetensors.torch import save_file

    from pathfocus.fileio import atomic_path

    state = {k: v.detach().cpu().contiguous() for k, v in encoder.backbone.state_dict().items()}
    with atomic_path(folder / WEIGHTS_FILE) as tmp:
        save_file(state, str(tmp))
    write_json(
        folder / CONFIG_FILE,
        {
            "kind": ENCODER_KIND,
            "backbone": encoder.name,
            "input_size": encoder.input_size,
            "num_features": encoder.num_features,
            "data_config": encoder.data_config.to_dict(),
            "fingerprint": encoder_fingerprint(encoder),
            **details,
        },
    )


def encoder_fingerprint(encoder: TileEncoder) -> str:
    """A short hash of the encoder's name, input size and weights: its features depend on all three."""
    digest = hashlib.sha1(f"{encoder.name}|{encoder.input_size}".encode())
    for name, tensor in sorted(encoder.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def encoder_record(encoder: TileEncoder, spec: TileEncoderSpec) -> dict[str, Any]:
    """What a run's ``config.json`` says about its encoder (its weights travel in the run's safetensors)."""
    return {
        "source": spec.source,
        "name": encoder.name,
        "input_size": encoder.input_size,
        "num_features": encoder.num_features,
        "data_config": encoder.data_config.to_dict(),
        "fingerprint": encoder_fingerprint(encoder),
        "description": spec.describe(),
        "pretrained": spec.pretrained,
        "weights": spec.weights,
    }


def encoder_from_record(record: dict[str, Any]) -> TileEncoder:
    """An encoder of the recorded architecture with random weights, to load a run's weights into."""
    return TileEncoder(str(record["name"]), input_size=int(record["input_size"]), pretrained=False)
