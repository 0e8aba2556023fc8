"""The cohort's tables: which slides there are (``labels.csv``) and their survival (``clinical.csv``).

Both are checked against each other before anything is computed, so a mismatch (a clinical row for a
slide nobody listed, a slide without follow-up, a negative time, a cohort without a single event) stops
the run with one sentence naming the file and the fix, and no output is written.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from pathfocus.errors import InputError

SLIDE_COLUMNS = ("slide_id", "path")
CLINICAL_COLUMNS = ("slide_id", "time", "event")


def _read_table(path: str | os.PathLike[str], what: str) -> pd.DataFrame:
    file = Path(path)
    if not file.is_file():
        msg = f"{what} {file} does not exist; pass the path of an existing CSV file"
        raise InputError(msg)
    try:
        return pd.read_csv(file, dtype={"slide_id": str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        msg = f"{what} {file} is not a readable CSV ({error}); pass a comma-separated table with a header"
        raise InputError(msg) from error


def _short(names: list[str]) -> str:
    shown = ", ".join(names[:5])
    return shown + (f" and {len(names) - 5} more" if len(names) > 5 else "")


def read_slides(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read ``labels.csv`` (``slide_id, path[, label]``); relative paths are resolved against its folder.

    Returns a table indexed by ``slide_id`` with an absolute ``path`` column (files are not opened here;
    whether they exist is checked by :func:`check_slide_files` only when they must be read).
    """
    frame = _read_table(path, "slide list")
    missing = [name for name in SLIDE_COLUMNS if name not in frame.columns]
    if missing:
        msg = (f"slide list {path} lacks the columns {missing}; it needs slide_id,path "
               "(as `synth slides` writes)")
        raise InputError(msg)
    if frame.empty:
        msg = f"slide list {path} has no rows; list at least two slides"
        raise InputError(msg)
    if frame["slide_id"].isna().any() or frame["path"].isna().any():
        msg = f"slide list {path} has rows without a slide_id or path; fill or remove them"
        raise InputError(msg)
    duplicated = frame.loc[frame["slide_id"].duplicated(), "slide_id"].astype(str).tolist()
    if duplicated:
        msg = f"slide list {path} names the slides {_short(duplicated)} more than once; keep one row each"
        raise InputError(msg)
    base = Path(path).resolve().parent
    frame["path"] = [str(p if Path(p).is_absolute() else base / p) for p in frame["path"].astype(str)]
    return frame.set_index("slide_id")


def check_slide_files(slides: pd.DataFrame, source: str) -> None:
    """Refuse a slide list whose files are missing, before any slide is opened."""
    absent = [str(slide_id) for slide_id, file in slides["path"].items() if not Path(file).is_file()]
    if absent:
        msg = (f"slide list {source}: the files of the slides {_short(absent)} do not exist "
               f"(e.g. {slides.loc[absent[0], 'path']}); fix the paths (relative ones are read from the "
               "list's folder)")
        raise InputError(msg)


def read_clinical(path: str | os.PathLike[str], slide_ids: list[str] | pd.Index) -> pd.DataFrame:
    """Read and validate ``clinical.csv`` (``slide_id, time, event`` + optional numeric covariates).

    Every listed slide must have exactly one row and every row must belong to a listed slide; times
    must be present and non-negative, events 0 or 1, and at least one event must be observed (with all
    slides censored there is nothing to estimate a hazard from).

    Returns:
        A table indexed by ``slide_id`` in the order of ``slide_ids``, with float ``time``, int
        ``event`` and the covariate columns as floats.
    """
    frame = _read_table(path, "clinical table")
    missing = [name for name in CLINICAL_COLUMNS if name not in frame.columns]
    if missing:
        msg = f"clinical table {path} lacks the columns {missing}; it needs slide_id,time,event"
        raise InputError(msg)
    if frame["slide_id"].isna().any():
        msg = f"clinical table {path} has rows without a slide_id; fill or remove them"
        raise InputError(msg)
    frame["slide_id"] = frame["slide_id"].astype(str)
    duplicated = frame.loc[frame["slide_id"].duplicated(), "slide_id"].tolist()
    if duplicated:
        msg = f"clinical table {path} has several rows for the slides {_short(duplicated)}; keep one row each"
        raise InputError(msg)
    known = [str(s) for s in slide_ids]
    unknown = sorted(set(frame["slide_id"]) - set(known))
    if unknown:
        msg = (f"clinical table {path} has rows for slides not in the slide list: {_short(unknown)}; "
               "remove those rows or add the slides to the list")
        raise InputError(msg)
    absent = [s for s in known if s not in set(frame["slide_id"])]
    if absent:
        msg = (f"clinical table {path} has no row for the slides {_short(absent)}; add their time and event "
               "or remove them from the slide list")
        raise InputError(msg)
    frame = frame.set_index("slide_id").loc[known]
    _check_times(frame, path)
    frame["event"] = _check_events(frame, path)
    covariates = [c for c in frame.columns if c not in ("time", "event", "path", "label")]
    for column in covariates:
        values = pd.to_numeric(frame[column], errors="coerce")
        if values.isna().any():
            msg = (f"clinical table {path}: covariate {column!r} has empty or non-numeric values; "
                   "encode it as numbers (e.g. 0/1 per category) or drop the column")
            raise InputError(msg)
        frame[column] = values.astype(np.float64)
    return frame[["time", "event", *covariates]]


def _check_times(frame: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    times = pd.to_numeric(frame["time"], errors="coerce")
    absent = times.index[times.isna()].tolist()
    if absent:
        msg = (f"clinical table {path} has missing or non-numeric times for {_short(absent)}; "
               "give every slide a time")
        raise InputError(msg)
    negative = times.index[times < 0].tolist()
    if negative:
        msg = (f"clinical table {path} has negative times for {_short(negative)}; times are follow-up "
               "durations and must be zero or more")
        raise InputError(msg)
    frame["time"] = times.astype(np.float64)


def _check_events(frame: pd.DataFrame, path: str | os.PathLike[str]) -> pd.Series:
    events = pd.to_numeric(frame["event"], errors="coerce")
    bad = events.index[~events.isin([0, 1])].tolist()
    if bad:
        msg = (f"clinical table {path} has events other than 0 or 1 for {_short(bad)}; "
               "use 1 = event, 0 = censored")
        raise InputError(msg)
    if int(events.sum()) == 0:
        msg = (f"clinical table {path} has no observed event (all slides censored); survival markers need "
               "at least one event")
        raise InputError(msg)
    return events.astype(int)


def covariate_columns(clinical: pd.DataFrame) -> list[str]:
    """The optional covariates of a validated clinical table (everything but time and event)."""
    return [c for c in clinical.columns if c not in ("time", "event")]
