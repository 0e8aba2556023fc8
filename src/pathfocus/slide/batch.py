"""Run one job per slide over many slides: progress bar, per-slide status, resume, never stop on one.

Every command that walks a cohort (tiling, analysis, markers) shares this runner so they all behave the
same: a bad slide is recorded as ``failed`` with its one-sentence reason and the run goes on; a slide
whose outputs already exist is ``skipped``; the status table is rewritten atomically after every slide,
so a killed run leaves a truthful ``status.csv`` and the rerun picks up where it stopped.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from pathfocus.errors import InputError, PathfocusError
from pathfocus.fileio import write_csv

log = logging.getLogger(__name__)

SLIDE_EXTENSIONS = frozenset(
    {".svs", ".tif", ".tiff", ".ndpi", ".mrxs", ".scn", ".svslide", ".bif", ".vms", ".vmu", ".dcm"}
)
STATUS_COLUMNS = ("slide_id", "path", "status", "reason", "seconds")


def is_slide_file(path: Path) -> bool:
    return path.suffix.lower() in SLIDE_EXTENSIONS and not path.name.startswith(".")


def expand_slide_paths(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Files as given (a missing one fails later, per slide) plus the slide files found under folders.

    Folders are searched recursively; a DICOM slide (a folder of ``.dcm`` files) counts once.
    """
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if not path.is_dir():
            found.append(path)
            continue
        inside = sorted(p for p in path.rglob("*") if p.is_file() and is_slide_file(p))
        dicom_dirs: set[Path] = set()
        kept = []
        for candidate in inside:
            if candidate.suffix.lower() == ".dcm":
                if candidate.parent in dicom_dirs:
                    continue
                dicom_dirs.add(candidate.parent)
            kept.append(candidate)
        if not kept:
            msg = (
                f"no slide files ({', '.join(sorted(SLIDE_EXTENSIONS))}) found under {path}; check the folder"
            )
            raise InputError(msg)
        found.extend(kept)
    unique = list(dict.fromkeys(found))
    if not unique:
        msg = "no slides given; pass slide files or folders that contain them"
        raise InputError(msg)
    return unique


def run_batch(
    slide_paths: Iterable[Path],
    process: Callable[[Path], dict[str, Any]],
    is_done: Callable[[Path], bool],
    status_path: Path,
    desc: str = "slides",
    console: Console | None = None,
) -> pd.DataFrame:
    """Call ``process(path)`` for each slide not yet ``is_done``; returns (and writes) the status table.

    ``process`` returns extra columns for the status row (e.g. ``n_tiles``). A :class:`PathfocusError`
    becomes ``failed`` with its message; any other exception too (with its type), logged with traceback at
    debug level. Skipped slides keep the extra columns of their earlier ``ok`` row.
    """
    paths = list(slide_paths)
    previous = _previous_rows(status_path)
    rows: list[dict[str, Any]] = []
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[current]}"),
        console=console or Console(stderr=True),
        transient=False,
    )
    with progress:
        task = progress.add_task(desc, total=len(paths), current="")
        for path in paths:
            progress.update(task, current=path.name)
            rows.append(_run_one(path, process, is_done, previous))
            write_csv(status_path, _frame(rows))
            progress.advance(task)
    frame = _frame(rows)
    counts = frame["status"].value_counts().to_dict()
    log.debug("%s: %s (status in %s)", desc, ", ".join(f"{n} {s}" for s, n in counts.items()), status_path)
    return frame


def _run_one(
    path: Path,
    process: Callable[[Path], dict[str, Any]],
    is_done: Callable[[Path], bool],
    previous: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "slide_id": path.stem,
        "path": str(path),
        "status": "ok",
        "reason": "",
        "seconds": 0.0,
    }
    start = time.perf_counter()
    try:
        if is_done(path):
            earlier = previous.get(str(path), {})
            row.update({k: v for k, v in earlier.items() if k not in STATUS_COLUMNS})
            row.update(status="skipped", reason="already done")
            return row
        row.update(process(path) or {})
    except PathfocusError as error:
        row.update(status="failed", reason=str(error))
        log.warning("%s failed: %s", path.name, error)
    except Exception as error:  # noqa: BLE001 -- one bad slide must not end a cohort run
        row.update(status="failed", reason=f"{type(error).__name__}: {error}")
        log.warning("%s failed unexpectedly: %s: %s", path.name, type(error).__name__, error)
        log.debug("traceback for %s", path, exc_info=True)
    row["seconds"] = round(time.perf_counter() - start, 3)
    return row


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    extra = [c for c in frame.columns if c not in STATUS_COLUMNS]
    return frame[[*STATUS_COLUMNS, *extra]]


def _previous_rows(status_path: Path) -> dict[str, dict[str, Any]]:
    """``ok`` rows of an earlier status table, by path (empty when there is none or it is unreadable)."""
    if not status_path.exists():
        return {}
    try:
        frame = pd.read_csv(status_path)
    except (OSError, ValueError, pd.errors.ParserError):
        log.warning("ignoring unreadable status table %s", status_path)
        return {}
    if "path" not in frame or "status" not in frame:
        return {}
    rows = {}
    for record in frame.to_dict("records"):
        if record["status"] in ("ok", "skipped"):
            rows[str(record["path"])] = {k: v for k, v in record.items() if not pd.isna(v)}
    return rows
