"""A SEW run's settings as recorded in its ``config.json``: one section per concern, old runs included.

Runs record ``architecture`` (:class:`~pathfocus.models.sew.SEWArchitecture`), ``reading``
(:class:`~pathfocus.engines.sew.reading.SEWReading`) and ``training`` (the training settings). Runs written
before the split kept every field in one flat ``sew`` section; they are read by routing each field to
the section that now owns it, so they load without retraining.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from pathfocus.configs import from_dict
from pathfocus.engines.sew.reading import SEWReading
from pathfocus.models.sew import SEWArchitecture

ARCHITECTURE_SECTION, READING_SECTION, TRAINING_SECTION = "architecture", "reading", "training"


def split_flat_settings(flat: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Route the fields of an old flat ``sew`` section to ``architecture``, ``reading`` and ``training``."""
    owners = {ARCHITECTURE_SECTION: SEWArchitecture, READING_SECTION: SEWReading}
    sections: dict[str, dict[str, Any]] = {name: {} for name in (*owners, TRAINING_SECTION)}
    for key, value in flat.items():
        owner = next((name for name, cls in owners.items()
                      if key in {field.name for field in dataclasses.fields(cls)}), TRAINING_SECTION)
        sections[owner][key] = value
    return sections


def run_settings(config: dict[str, Any], source: str = "the run") -> tuple[SEWArchitecture, SEWReading]:
    """The network and reading settings of a SEW run config (current or old layout)."""
    sections = split_flat_settings(config["sew"]) if "sew" in config else config
    architecture = from_dict(SEWArchitecture, sections[ARCHITECTURE_SECTION], f"{source} (architecture)")
    reading = from_dict(SEWReading, sections[READING_SECTION], f"{source} (reading)")
    return architecture, reading
