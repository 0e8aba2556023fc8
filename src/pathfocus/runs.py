"""Run folders: ``config.json`` + ``model.safetensors``, saved atomically and loaded with checks.

A run folder is the contract between training, evaluation, prediction, analysis and the report. The
config says what architecture and classes the weights belong to, so loading can refuse a mismatch with
a message that says what differs, and weights never go through pickle.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pathfocus.errors import CheckpointError
from pathfocus.fileio import atomic_path, read_json, write_json

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
# what training measured (best epoch, validation scores, timings); runs written before 0.2 named it
# metrics.json, the name evaluation uses for held-out results in EVAL_DIR
TRAINING_SUMMARY_FILE = "training_summary.json"
LEGACY_TRAINING_SUMMARY_FILE = "metrics.json"
EVAL_DIR = "eval"
EVAL_METRICS_FILE = "metrics.json"

if TYPE_CHECKING:  # NOTE: torch and safetensors load when weights are, so reading run folders stays light
    import torch


def save_run_model(
    run_dir: str | os.PathLike[str], model: torch.nn.Module, config: Mapping[str, Any]
) -> None:
    """Write the model's weights and its config (which must name ``kind``) into ``run_dir`` atomically."""
    from safetensors.torch import save_file

    if "kind" not in config:
        msg = "a run config needs a 'kind' (patch, sew or mil) so `pathfocus evaluate` knows what it holds"
        raise CheckpointError(msg)
    run = Path(run_dir)
    state = {name: tensor.detach().cpu().clone().contiguous() for name, tensor in model.state_dict().items()}
    with atomic_path(run / WEIGHTS_FILE) as tmp:
        save_file(state, str(tmp), metadata={"kind": str(config["kind"])})
    write_json(run / CONFIG_FILE, dict(config))


def read_run_config(
    run_dir: str | os.PathLike[str], kind: str | Iterable[str] | None = None
) -> dict[str, Any]:
    """Read ``config.json`` of a run, checking it exists and (optionally) is of the expected kind."""
    run = Path(run_dir)
    path = run / CONFIG_FILE
    if not path.is_file():
        msg = (
            f"{run} is not a pathfocus run folder (no {CONFIG_FILE}); pass the folder that "
            "`pathfocus train ... --out` wrote"
        )
        raise CheckpointError(msg)
    config = read_json(path)
    if kind is not None:
        allowed = {kind} if isinstance(kind, str) else set(kind)
        if config.get("kind") not in allowed:
            msg = f"{run} holds a {config.get('kind')!r} run but this command needs one of {sorted(allowed)}"
            raise CheckpointError(msg)
    return config


def recorded_label_names(run_dir: str | os.PathLike[str]) -> dict[str, str]:
    """The ``label_names`` an earlier training of ``run_dir`` recorded ({} when none or no run yet), so a
    ``--resume`` keeps names it was not given again (training rewrites ``config.json``)."""
    if not (Path(run_dir) / CONFIG_FILE).is_file():
        return {}
    return dict(read_run_config(run_dir).get("label_names") or {})


def record_label_names(run_dir: str | os.PathLike[str], names: Mapping[str, str]) -> None:
    """Add the classes' display names (``{label: name}``) to the run's ``config.json`` as ``label_names``.

    The labels stay the run's ``class_names`` (what the weights were trained to index); analyses,
    evaluation and the report show the names.
    """
    path = Path(run_dir) / CONFIG_FILE
    config = read_run_config(run_dir)
    unknown = sorted(set(names) - {str(c) for c in config.get("class_names", [])})
    if unknown:
        msg = f"{path} has no class(es) {unknown} to name; its classes are {config.get('class_names')}"
        raise CheckpointError(msg)
    write_json(path, config | {"label_names": {str(k): str(v) for k, v in names.items()}})


def read_training_summary(run_dir: str | os.PathLike[str]) -> dict[str, Any] | None:
    """What training wrote about itself (None when the run has no summary), old runs' name included."""
    run = Path(run_dir)
    for name in (TRAINING_SUMMARY_FILE, LEGACY_TRAINING_SUMMARY_FILE):
        if (run / name).is_file():
            return read_json(run / name)
    return None


def check_config(
    saved: Mapping[str, Any], expected: Mapping[str, Any], keys: Iterable[str], source: str
) -> None:
    """Refuse a checkpoint whose architecture-defining ``keys`` differ from what the caller expects."""
    differences = [
        f"{key}: checkpoint has {saved.get(key)!r}, expected {expected.get(key)!r}"
        for key in keys
        if saved.get(key) != expected.get(key)
    ]
    if differences:
        msg = f"{source} was saved for another model ({'; '.join(differences)})"
        raise CheckpointError(msg)


def load_run_weights(run_dir: str | os.PathLike[str], model: torch.nn.Module) -> None:
    """Load ``model.safetensors`` into ``model`` after checking names and shapes tensor by tensor."""
    path = Path(run_dir) / WEIGHTS_FILE
    load_safetensors_into(path, model)


def load_safetensors_into(path: Path, model: torch.nn.Module, prefix_to_strip: str = "") -> None:
    """Load a safetensors file into ``model`` strictly, with a message listing what does not fit."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    if not path.is_file():
        msg = f"no weights at {path}; the run did not finish saving or the path is wrong"
        raise CheckpointError(msg)
    try:
        with safe_open(str(path), framework="pt") as handle:
            shapes = {
                key[len(prefix_to_strip) :] if key.startswith(prefix_to_strip) else key: tuple(
                    handle.get_slice(key).get_shape()
                )
                for key in handle.keys()
            }  # noqa: SIM118
    except Exception as error:  # safetensors raises its own error types for corrupt headers
        msg = f"{path} is not a readable safetensors file ({error}); re-create it or point to another file"
        raise CheckpointError(msg) from error
    expected = {key: tuple(value.shape) for key, value in model.state_dict().items()}
    problems = describe_mismatch(shapes, expected)
    if problems:
        msg = f"{path} does not fit this model: {problems}"
        raise CheckpointError(msg)
    state = load_file(str(path))
    if prefix_to_strip:
        state = {
            key[len(prefix_to_strip) :] if key.startswith(prefix_to_strip) else key: value
            for key, value in state.items()
        }
    model.load_state_dict(state, strict=True)


def describe_mismatch(saved: Mapping[str, tuple[int, ...]], expected: Mapping[str, tuple[int, ...]]) -> str:
    """Say in a few words which tensors are missing, unexpected or of another shape ('' if none)."""
    missing = sorted(set(expected) - set(saved))
    unexpected = sorted(set(saved) - set(expected))
    reshaped = [
        f"{key} {saved[key]} vs {expected[key]}"
        for key in sorted(set(saved) & set(expected))
        if saved[key] != expected[key]
    ]
    parts = []
    if reshaped:
        parts.append(f"{len(reshaped)} tensors differ in shape (e.g. {', '.join(reshaped[:3])})")
    if missing:
        parts.append(f"{len(missing)} missing (e.g. {', '.join(missing[:3])})")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected (e.g. {', '.join(unexpected[:3])})")
    return "; ".join(parts)
