"""Find out what the folders given to ``pathfocus report`` hold, by the files each kind leaves behind.

Recognised (a folder may be several at once; folders are searched a few levels down, so the demo's
output folder can be passed as a whole):

- run: ``config.json`` whose ``kind`` is ``patch``, ``sew`` or ``mil`` (+ ``eval/``, ``logs/metrics.csv``)
- analysis: per-slide ``<slide_id>.json`` next to ``<slide_id>_heatmap.png`` (``pathfocus analyze``)
- explain: ``explain.json`` whose ``kind`` is ``explain`` (``pathfocus explain``)
- markers: ``markers.json`` (``pathfocus markers``) and the PNG figures beside it
- comparison: a JSON file whose ``kind`` is ``sew_vs_exhaustive`` (see :data:`COMPARISON_SCHEMA`)
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pathfocus.errors import InputError

log = logging.getLogger(__name__)

RUN_KINDS = ("patch", "sew", "mil")
COMPARISON_KIND = "sew_vs_exhaustive"
HEATMAP_SUFFIX = "_heatmap.png"
MAX_DEPTH = 3
SKIP_DIRS = {"checkpoints", "__pycache__"}
# The benchmark's SEW-versus-exhaustive summary (one file, any name, found by its "kind").
# Per-method values are per-slide medians over the same slides; the report derives speed-up, pixel
# ratio and AUC difference from them rather than trusting stored ratios.
COMPARISON_SCHEMA: dict[str, Any] = {
    "kind": COMPARISON_KIND,
    "n_slides": "int: slides both methods analysed",
    "methods": {
        "sew": {"auc": "float|null", "accuracy": "float", "seconds": "float (per slide)",
                "pixels_read": "int (high-magnification pixels per slide)"},
        "exhaustive": {"auc": "float|null", "accuracy": "float", "seconds": "float", "pixels_read": "int"},
    },
    "device": "optional str", "command": "optional str: what produced the file", "notes": "optional str",
}
COMPARISON_METRICS = ("auc", "accuracy", "seconds", "pixels_read")


@dataclass
class RunFolder:
    path: Path
    config: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.config["kind"])

    @property
    def name(self) -> str:
        model = self.config.get("model")
        label = model.get("name") if isinstance(model, dict) else None
        return f"{self.path.name} ({label})" if label and label != self.path.name else self.path.name


@dataclass
class AnalysisFolder:
    path: Path
    slides: dict[str, dict[str, Any]]  # slide_id -> the per-slide JSON

    @property
    def method(self) -> str:
        """``sew`` or ``mil`` as the per-slide JSON says (key ``method``), else guessed from the folder
        name (``...sew...``; ``...mil...``/``exhaustive``/``baseline``), else the folder name."""
        methods = {str(s.get("method")) for s in self.slides.values() if s.get("method")}
        if len(methods) == 1:
            return methods.pop()
        name = self.path.name.lower()
        if "sew" in name:
            return "sew"
        if any(hint in name for hint in ("mil", "exhaustive", "baseline")):
            return "mil"
        return self.path.name

    def heatmap(self, slide_id: str) -> Path:
        return self.path / f"{slide_id}{HEATMAP_SUFFIX}"


@dataclass
class Inventory:
    """Everything found, in the order found."""

    runs: list[RunFolder] = field(default_factory=list)
    analyses: list[AnalysisFolder] = field(default_factory=list)
    explains: list[tuple[Path, dict[str, Any]]] = field(default_factory=list)
    markers: list[tuple[Path, dict[str, Any]]] = field(default_factory=list)
    comparisons: list[tuple[Path, dict[str, Any]]] = field(default_factory=list)

    def is_empty(self) -> bool:
        return not (self.runs or self.analyses or self.explains or self.markers or self.comparisons)


def collect(inputs: Sequence[str | os.PathLike[str]]) -> Inventory:
    """Classify every given folder (and its sub-folders) and JSON file; refuse paths that do not exist."""
    inventory = Inventory()
    seen: set[Path] = set()
    for item in map(Path, inputs):
        if not item.exists():
            msg = (f"{item} does not exist; pass run, analysis, explain or markers folders or a "
                   "comparison JSON")
            raise InputError(msg)
        if item.is_file():
            _add_comparison(inventory, item, explicit=True)
            continue
        for folder in _walk(item):
            if folder.resolve() not in seen:
                seen.add(folder.resolve())
                _classify(inventory, folder)
    return inventory


def _walk(root: Path, depth: int = 0) -> Iterator[Path]:
    yield root
    if depth >= MAX_DEPTH:
        return
    for child in sorted(p for p in root.iterdir() if p.is_dir()):
        if not child.name.startswith(".") and child.name not in SKIP_DIRS:
            yield from _walk(child, depth + 1)


def _classify(inventory: Inventory, folder: Path) -> None:
    config = read_document(folder / "config.json")
    if isinstance(config, dict) and config.get("kind") in RUN_KINDS:
        inventory.runs.append(RunFolder(folder, config))
    explain = read_document(folder / "explain.json")
    if isinstance(explain, dict) and explain.get("kind") == "explain":
        inventory.explains.append((folder, explain))
    markers = read_document(folder / "markers.json")
    if isinstance(markers, dict):
        inventory.markers.append((folder, markers))
    slides = {}
    for heatmap in sorted(folder.glob(f"*{HEATMAP_SUFFIX}")):
        slide_id = heatmap.name[: -len(HEATMAP_SUFFIX)]
        document = read_document(folder / f"{slide_id}.json")
        if isinstance(document, dict) and "regions" in document and "probabilities" in document:
            slides[slide_id] = document
    if slides:
        inventory.analyses.append(AnalysisFolder(folder, slides))
    for candidate in sorted(folder.glob("*.json")):
        if "comparison" in candidate.name or "benchmark" in candidate.name:
            _add_comparison(inventory, candidate, explicit=False)


def _add_comparison(inventory: Inventory, path: Path, explicit: bool) -> None:
    document = read_document(path)
    if isinstance(document, dict) and document.get("kind") == COMPARISON_KIND:
        check_comparison(document, path)
        inventory.comparisons.append((path, document))
    elif explicit:
        msg = (f"{path} is not a file the report knows (expected a JSON with kind '{COMPARISON_KIND}'); "
               "pass folders for runs, analyses, explanations and markers")
        raise InputError(msg)


def check_comparison(document: dict[str, Any], path: Path) -> None:
    """Refuse a comparison file without both methods and their four numbers (naming what is missing)."""
    methods = document.get("methods")
    if not isinstance(methods, dict):
        msg = f"{path} has no 'methods' object; see pathfocus.report.collect.COMPARISON_SCHEMA"
        raise InputError(msg)
    missing = [f"{method}.{key}" for method in ("sew", "exhaustive") for key in COMPARISON_METRICS
               if key not in (methods.get(method) or {})]
    if missing:
        msg = f"{path} lacks {', '.join(missing)}; see pathfocus.report.collect.COMPARISON_SCHEMA"
        raise InputError(msg)


def read_document(path: Path) -> Any:
    """A JSON document, or None when the file is absent or unreadable (warned: the section is left out)."""
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        log.warning("skipping %s: not readable JSON (%s)", path, error)
        return None
