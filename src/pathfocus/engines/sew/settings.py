"""A SEW run's settings as recorded in its ``config.json``: one section per concern.

Runs record ``architecture`` (:class:`~pathfocus.models.sew_settings.SEWArchitecture`), ``reading``
(:class:`~pathfocus.engines.sew.reading.SEWReading`, with the tile grid in ``reading.tiles``), ``training``
and ``encoder``. :func:`split_flat_settings` routes a flat dict of overrides (as scripts and tests write
them) to the section that owns each key.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from pathfocus.configs import from_dict
from pathfocus.engines.sew.reading import SEWReading
from pathfocus.engines.tile_settings import TileSettings
from pathfocus.models.sew_settings import SEWArchitecture

ARCHITECTURE_SECTION, READING_SECTION, TRAINING_SECTION = "architecture", "reading", "training"


def _fields(cls: type) -> set[str]:
    return {field.name for field in dataclasses.fields(cls)}


def split_flat_settings(flat: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Route flat keys to ``architecture``, ``reading`` (tile keys to ``reading.tiles``) or ``training``."""
    sections: dict[str, dict[str, Any]] = {
        ARCHITECTURE_SECTION: {},
        READING_SECTION: {},
        TRAINING_SECTION: {},
    }
    for key, value in flat.items():
        if key in _fields(SEWArchitecture):
            sections[ARCHITECTURE_SECTION][key] = value
        elif key in _fields(SEWReading):
            sections[READING_SECTION][key] = value
        elif key in _fields(TileSettings):
            sections[READING_SECTION].setdefault("tiles", {})[key] = value
        else:
            sections[TRAINING_SECTION][key] = value
    return sections


def run_settings(config: dict[str, Any], source: str = "the run") -> tuple[SEWArchitecture, SEWReading]:
    """The network and reading settings of a SEW run's config."""
    saved = dict(config[ARCHITECTURE_SECTION])
    # runs saved before slide-relative node features existed were built without them
    saved.setdefault("slide_relative", False)
    architecture = from_dict(SEWArchitecture, saved, f"{source} (architecture)")
    reading = from_dict(SEWReading, config[READING_SECTION], f"{source} (reading)")
    return architecture, reading
