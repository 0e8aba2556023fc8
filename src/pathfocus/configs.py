"""Settings as dataclasses: strict dictionaries in and out, YAML/JSON files, command-line overrides.

Every run is described by dataclasses, one per concern (what the model is, how slides are read, how it
is trained). Their defaults are written once, in the dataclass; a ``--config FILE`` (YAML or JSON, one
section per concern) overrides them; explicit command-line flags override the file; the resolved result
is what the run folder records. Unknown keys are errors that name the key, so a typo never silently
falls back to a default.
"""

from __future__ import annotations

import dataclasses
import json
import os
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from pathfocus.errors import InputError

T = TypeVar("T")


def to_dict(obj: Any) -> dict[str, Any]:
    """A JSON-ready dict of a dataclass (nested dataclasses too; tuples become lists, paths strings)."""
    return _plain(dataclasses.asdict(obj))


def from_dict(cls: type[T], values: Mapping[str, Any] | None, source: str = "the config") -> T:
    """Build ``cls`` from ``values`` (missing keys take their defaults), refusing unknown keys by name.

    Nested dataclass fields accept a mapping; tuple fields accept lists.
    """
    values = dict(values or {})
    fields = {field.name: field for field in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        msg = f"unknown key(s) {unknown} in {source}; known keys are {sorted(fields)}"
        raise InputError(msg)
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for name, value in values.items():
        nested = _dataclass_in(hints.get(name))
        if nested is not None and isinstance(value, Mapping):
            value = from_dict(nested, value, f"{source}, section {name!r}")
        elif isinstance(value, list) and _is_tuple(hints.get(name)):
            value = tuple(value)
        kwargs[name] = value
    return cls(**kwargs)


def merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` updated by ``override`` recursively; ``None`` in ``override`` means "not given"."""
    result = dict(base)
    for key, value in override.items():
        if value is None:
            continue
        if isinstance(value, Mapping):
            result[key] = merge(result.get(key) or {}, value)
        else:
            result[key] = value
    return result


def resolve(cls: type[T], file: str | os.PathLike[str] | None, overrides: Mapping[str, Any]) -> T:
    """Defaults of ``cls``, then the config ``file`` (if any), then ``overrides`` (``None`` = not given)."""
    from_file = read_config_file(file) if file is not None else {}
    source = f"config file {file}" if file is not None else "the options"
    return from_dict(cls, merge(from_file, overrides), source)


def read_config_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A YAML (``.yaml``/``.yml``) or JSON config file as a dict, with one clear error if it is not one."""
    file = Path(path)
    if not file.is_file():
        msg = f"config file {file} does not exist; pass a YAML or JSON file with one section per concern"
        raise InputError(msg)
    text = file.read_text(encoding="utf-8")
    try:
        if file.suffix.lower() in (".yaml", ".yml"):
            import yaml

            values = yaml.safe_load(text)
        else:
            values = json.loads(text)
    except (ValueError, ImportError) as error:  # json and yaml parse errors derive from ValueError
        msg = f"{file} is not a readable config file ({error})"
        raise InputError(msg) from error
    except Exception as error:  # yaml.YAMLError does not derive from ValueError
        msg = f"{file} is not readable YAML ({error})"
        raise InputError(msg) from error
    if not isinstance(values, dict):
        msg = (f"{file} must hold a mapping of sections (e.g. training: {{epochs: 10}}), "
               f"not {type(values).__name__}")
        raise InputError(msg)
    return values


def default_of(cls: type, name: str) -> Any:
    """The default of field ``name`` of dataclass ``cls`` (for help texts: defaults are written once)."""
    for field in dataclasses.fields(cls):
        if field.name == name:
            if field.default is not dataclasses.MISSING:
                return field.default
            if field.default_factory is not dataclasses.MISSING:
                return field.default_factory()
    msg = f"{cls.__name__} has no field {name!r} with a default"
    raise KeyError(msg)


def _dataclass_in(hint: Any) -> type | None:
    if dataclasses.is_dataclass(hint):
        return hint
    for arg in typing.get_args(hint):
        if dataclasses.is_dataclass(arg):
            return arg
    return None


def _is_tuple(hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if origin is tuple:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(typing.get_origin(arg) is tuple for arg in typing.get_args(hint))
    return False


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return value
