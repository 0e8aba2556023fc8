"""Run one job per slide over many slides: progress bar, per-slide status, resume, never stop on one.

Every command that walks a cohort (tiling, analysis, markers) shares this runner so they all behave the
same: a bad slide is recorded as ``failed`` with its one-sentence reason and the run goes on; a slide
whose outputs already exist is ``skipped``; the status table is rewritten atomically after every slide,
so a killed run leaves a truthful ``status.csv`` and the rerun picks up where it stopped.
"""

from __future__ import annotations

import functools
import logging
import os
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from pathfocus.errors import InputError, PathfocusError
from pathfocus.fileio import write_csv
from pathfocus.slide.cluster import ClusterSpec, parse_cluster
from pathfocus.slide.cluster_batch import cluster_results

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
    cluster: str | None = None,
    resources: Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """Call ``process(path)`` for each slide not yet ``is_done``; returns (and writes) the status table.

    ``process`` returns extra columns for the status row (e.g. ``n_tiles``). A :class:`PathfocusError`
    becomes ``failed`` with its message; any other exception too (with its type), logged with traceback at
    debug level. Skipped slides keep the extra columns of their earlier ``ok`` row. With ``cluster`` (a
    ``--cluster`` value, see :mod:`pathfocus.slide.cluster`) each slide is a task on that cluster needing
    ``resources`` of its worker, so ``process`` must pickle (a module-level function or a small dataclass
    instance); ``is_done`` and the status table stay here. The table lists slides in the order given.
    """
    paths = list(slide_paths)
    spec = parse_cluster(cluster) if cluster is not None else None
    previous = _previous_rows(status_path)
    rows: dict[int, dict[str, Any]] = {}
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

        def record(index: int, row: dict[str, Any]) -> None:
            rows[index] = row
            write_csv(status_path, _frame([rows[i] for i in sorted(rows)]))
            progress.update(task, advance=1, current=Path(row["path"]).name)

        if spec is None:
            for index, path in enumerate(paths):
                progress.update(task, current=path.name)
                record(index, _skipped(path, is_done, previous) or process_slide(process, path)[0])
        else:
            _on_cluster(spec, paths, process, is_done, previous, record, resources)
    frame = _frame([rows[i] for i in sorted(rows)])
    counts = frame["status"].value_counts().to_dict()
    log.debug("%s: %s (status in %s)", desc, ", ".join(f"{n} {s}" for s, n in counts.items()), status_path)
    return frame


def _on_cluster(
    spec: ClusterSpec,
    paths: list[Path],
    process: Callable[[Path], dict[str, Any]],
    is_done: Callable[[Path], bool],
    previous: dict[str, dict[str, Any]],
    record: Callable[[int, dict[str, Any]], None],
    resources: Mapping[str, float] | None,
) -> None:
    """Record the skipped slides here, then every other slide's row as its task on the cluster ends."""
    todo = []
    for index, path in enumerate(paths):
        skipped = _skipped(path, is_done, previous)
        if skipped is None:
            todo.append(index)
        else:
            record(index, skipped)
    if not todo:
        return  # nothing left: no cluster to start
    attempt = functools.partial(process_slide, process, warn=False)  # warned here, not on the workers
    for position, row in cluster_results(spec, [paths[i] for i in todo], attempt, lost_row, resources):
        if row["status"] == "failed":
            log.warning("%s failed: %s", Path(row["path"]).name, row["reason"])
        record(todo[position], row)


def process_slide(
    process: Callable[[Path], dict[str, Any]], path: Path, warn: bool = True
) -> tuple[dict[str, Any], bool]:
    """One slide's status row from ``process(path)``, and whether an unexpected error (not a
    :class:`PathfocusError`, which names a bad input) made it fail: only those are worth a retry.
    ``warn``: log a failure as a warning (a cluster's client does that instead of its workers)."""
    row = _row(path)
    start = time.perf_counter()
    unexpected = False
    level = logging.WARNING if warn else logging.DEBUG
    try:
        row.update(process(path) or {})
    except PathfocusError as error:
        row.update(status="failed", reason=str(error))
        log.log(level, "%s failed: %s", path.name, error)
    except Exception as error:  # noqa: BLE001 -- one bad slide must not end a cohort run
        unexpected = True
        row.update(status="failed", reason=f"{type(error).__name__}: {error}")
        log.log(level, "%s failed unexpectedly: %s: %s", path.name, type(error).__name__, error)
        log.debug("traceback for %s", path, exc_info=True)
    row["seconds"] = round(time.perf_counter() - start, 3)
    return row, unexpected


def _skipped(
    path: Path, is_done: Callable[[Path], bool], previous: dict[str, dict[str, Any]]
) -> dict[str, Any] | None:
    """The ``skipped`` row of a slide whose outputs exist (None when it still has to run)."""
    if not is_done(path):
        return None
    row = _row(path)
    earlier = previous.get(str(path), {})
    row.update({k: v for k, v in earlier.items() if k not in STATUS_COLUMNS})
    row.update(status="skipped", reason="already done")
    return row


def _row(path: Path) -> dict[str, Any]:
    return {"slide_id": path.stem, "path": str(path), "status": "ok", "reason": "", "seconds": 0.0}


def lost_row(path: Path, reason: str) -> dict[str, Any]:
    """The row of a slide whose task never reported back (its workers died)."""
    return {**_row(path), "status": "failed", "reason": reason}


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
