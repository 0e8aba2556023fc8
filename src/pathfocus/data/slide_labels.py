"""Slide-level labels and patient-disjoint splits, shared by the SEW and MIL slide runs.

A slide cohort is a CSV ``slide_id,path,label[,patient_id][,class_name]`` (``class_name``: what a
numeric label means, shown instead of it). Splits are made over patients (or slides
when no patient is given) so no patient's slides land on both sides, stratified by label so every class
reaches the test split when it has enough patients; ``RUN/splits.csv`` records them so evaluation,
resuming and the benchmark all use the same held-out slides.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pathfocus.errors import InputError
from pathfocus.fileio import write_csv

SPLITS_FILE = "splits.csv"
SUBSETS = ("train", "val", "test")
REQUIRED_COLUMNS = ("slide_id", "path", "label")
log = logging.getLogger(__name__)


def read_slide_labels(csv: str | os.PathLike[str], check_files: bool = True) -> pd.DataFrame:
    """Read ``slide_id,path,label[,patient_id]``; relative paths are resolved against the CSV's folder.

    Labels are kept as strings (``"1"``, ``"tumour"``) so class names round-trip through JSON unchanged.
    """
    path = Path(csv)
    if not path.is_file():
        msg = (f"slide label table {path} does not exist; pass the labels.csv that "
               "`pathfocus synth slides` wrote")
        raise InputError(msg)
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        msg = f"{path} is not a readable CSV ({error}); it needs the columns slide_id,path,label"
        raise InputError(msg) from error
    table.columns = [str(column).strip() for column in table.columns]
    missing = [column for column in REQUIRED_COLUMNS if column not in table.columns]
    if missing:
        msg = (f"{path} lacks the column(s) {', '.join(missing)}; a slide table needs slide_id,path,label "
               f"(and optionally patient_id), it has {', '.join(table.columns)}")
        raise InputError(msg)
    if table.empty:
        msg = f"{path} lists no slides; add one row per slide (slide_id,path,label)"
        raise InputError(msg)
    for column in REQUIRED_COLUMNS:
        blank = table[column].str.strip() == ""
        if blank.any():
            row = int(np.flatnonzero(blank)[0]) + 2
            msg = f"{path} has an empty {column} on row {row}; fill it or drop the row"
            raise InputError(msg)
    duplicated = table["slide_id"].duplicated()
    if duplicated.any():
        twice = table["slide_id"][duplicated].iloc[0]
        msg = f"{path} lists slide_id {twice!r} twice; slide ids must be unique"
        raise InputError(msg)
    table["path"] = [str(_resolve(path.parent, value)) for value in table["path"]]
    if check_files:
        absent = [value for value in table["path"] if not Path(value).exists()]
        if absent:
            msg = (f"{len(absent)} slide file(s) listed in {path} do not exist (e.g. {absent[0]}); "
                   "fix the paths (relative paths are read from the CSV's folder)")
            raise InputError(msg)
    if "patient_id" in table.columns:
        given = table["patient_id"].str.strip() != ""
        table["patient_id"] = table["patient_id"].where(given, table["slide_id"])
    columns = [*REQUIRED_COLUMNS, *(["patient_id"] if "patient_id" in table.columns else [])]
    extra = [column for column in table.columns if column not in columns]
    return table[columns + extra].reset_index(drop=True)


def class_names_from_labels(labels: Iterable[object]) -> list[str]:
    """Sorted distinct labels as strings; integer-like labels (grades) sort numerically (2 before 10)."""
    names = sorted({str(label) for label in labels})
    if names and all(_is_int(name) for name in names):
        return sorted(names, key=int)
    return names


def label_names(labels: pd.DataFrame, given: str | Sequence[str] | None = None,
                source: str = "labels.csv") -> dict[str, str]:
    """Display names of the classes, ``{label: name}``, for labels written as numbers (0/1, grades).

    From ``given`` (``--class-names``: one name per class, in class order, e.g. ``"normal,tumour"``), else
    from an optional ``class_name`` column beside ``label`` in the labels table, else none (``{}``): the
    labels are their own names. The run keeps the labels as its classes (what training indexes) and
    shows the names wherever a person reads them.
    """
    classes = class_names_from_labels(labels["label"])
    if given is not None:
        names = [n.strip() for n in (given.split(",") if isinstance(given, str) else given)]
        if len(names) != len(classes) or any(not n for n in names) or len(set(names)) != len(names):
            msg = (f"--class-names needs {len(classes)} distinct non-empty names, one per class in the order "
                   f"{', '.join(classes)}; got {', '.join(names) or 'none'}")
            raise InputError(msg)
        return dict(zip(classes, names, strict=True))
    if "class_name" not in labels.columns:
        return {}
    mapping: dict[str, str] = {}
    for label, name in zip(labels["label"].astype(str), labels["class_name"].astype(str).str.strip(),
                           strict=True):
        if name and mapping.setdefault(label, name) != name:
            msg = (f"{source} names label {label} both {mapping[label]!r} and {name!r} in its class_name "
                   "column; give each label one name")
            raise InputError(msg)
    if len(set(mapping.values())) != len(mapping):
        msg = f"{source} gives two labels the same class_name ({mapping}); names must be distinct"
        raise InputError(msg)
    return mapping


def display_class_names(config: Mapping[str, Any]) -> list[str]:
    """A slide run's class names as people should read them: its ``label_names`` (recorded by training
    with ``--class-names`` or a ``class_name`` column), else the ``class_name`` column of the labels table
    it was trained on when that is still readable, else the labels themselves."""
    classes = [str(name) for name in config.get("class_names", [])]
    names = config.get("label_names")
    if not names and config.get("slides_csv"):
        try:
            names = label_names(read_slide_labels(config["slides_csv"], check_files=False))
        except InputError:
            names = {}
    names = names or {}
    return [str(names.get(label, label)) for label in classes]


def make_slide_splits(labels: pd.DataFrame, test_size: float = 0.3, val_size: float = 0.2,
                      seed: int = 0) -> pd.DataFrame:
    """Patient-disjoint, label-stratified ``slide_id,subset`` table (subset in train|val|test).

    Fractions are of the whole cohort. Within each class every split with room gets at least one group:
    a class with two or more patients always reaches test, with three or more also val.
    """
    for name, value in (("test_size", test_size), ("val_size", val_size)):
        if not 0.0 <= value < 1.0:
            msg = f"{name}={value} must lie in [0, 1)"
            raise InputError(msg)
    if test_size + val_size >= 1.0:
        msg = f"test_size + val_size = {test_size + val_size} leaves nothing to train on; make them smaller"
        raise InputError(msg)
    groups = _group_labels(labels)
    rng = np.random.default_rng(seed)
    subset_of_group: dict[str, str] = {}
    for label in class_names_from_labels(groups.values()):
        members = sorted(group for group, group_label in groups.items() if group_label == label)
        members = [members[i] for i in rng.permutation(len(members))]
        n = len(members)
        n_test = max(1, round(n * test_size)) if n >= 2 and test_size > 0 else 0
        n_val = max(1, round(n * val_size)) if n - n_test >= 2 and val_size > 0 else 0
        n_val = min(n_val, n - n_test - 1) if n - n_test >= 1 else 0
        for i, group in enumerate(members):
            subset_of_group[group] = "test" if i < n_test else "val" if i < n_test + n_val else "train"
    key = labels["patient_id"] if "patient_id" in labels.columns else labels["slide_id"]
    subsets = [subset_of_group[str(group)] for group in key]
    return pd.DataFrame({"slide_id": labels["slide_id"].astype(str).to_numpy(), "subset": subsets})


def load_or_make_splits(run_dir: str | os.PathLike[str], labels: pd.DataFrame,
                        splits_csv: str | os.PathLike[str] | None = None, seed: int = 0) -> pd.DataFrame:
    """The run's splits: from ``splits_csv`` if given, else the run's own ``splits.csv`` (resume), else new.

    The result (``slide_id,subset``, one row per labelled slide) is written to ``RUN/splits.csv``.
    """
    run_splits = Path(run_dir) / SPLITS_FILE
    if splits_csv is not None:
        splits = read_slide_splits(splits_csv, labels)
    elif run_splits.is_file():
        splits = read_slide_splits(run_splits, labels)
        log.info("reusing the splits in %s", run_splits)
    else:
        splits = make_slide_splits(labels, seed=seed)
    write_csv(run_splits, splits)
    return splits


def read_slide_splits(csv: str | os.PathLike[str], labels: pd.DataFrame) -> pd.DataFrame:
    """Read a split table keyed by ``slide_id`` (or ``path``, as `pathfocus split` writes) for ``labels``."""
    path = Path(csv)
    if not path.is_file():
        msg = f"split table {path} does not exist; omit --splits to make one in the run folder"
        raise InputError(msg)
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    if "subset" not in table.columns or not {"slide_id", "path"} & set(table.columns):
        msg = f"{path} needs the columns slide_id,subset (or path,subset); it has {', '.join(table.columns)}"
        raise InputError(msg)
    if "slide_id" in table.columns:
        subset_of = dict(zip(table["slide_id"], table["subset"], strict=True))
        keys = labels["slide_id"].astype(str)
    else:
        subset_of = {str(_resolve(path.parent, p)): s
                     for p, s in zip(table["path"], table["subset"], strict=True)}
        keys = labels["path"].astype(str)
    unknown = sorted(set(table["subset"]) - set(SUBSETS))
    if unknown:
        msg = f"{path} has subset value(s) {unknown}; use train, val or test"
        raise InputError(msg)
    missing = [key for key in keys if key not in subset_of]
    if missing:
        msg = (f"{len(missing)} labelled slide(s) are not in {path} (e.g. {missing[0]}); add them or "
               "regenerate the splits")
        raise InputError(msg)
    return pd.DataFrame({"slide_id": labels["slide_id"].astype(str).to_numpy(),
                         "subset": [subset_of[key] for key in keys]})


def subset_table(labels: pd.DataFrame, splits: pd.DataFrame, subset: str) -> pd.DataFrame:
    """The rows of ``labels`` whose slides are in ``subset`` (train, val or test), in label-table order."""
    chosen = set(splits.loc[splits["subset"] == subset, "slide_id"].astype(str))
    return labels[labels["slide_id"].astype(str).isin(chosen)].reset_index(drop=True)


def _group_labels(labels: pd.DataFrame) -> dict[str, str]:
    """Label per split group (patient or slide); a patient with mixed slides gets its most common label."""
    key = "patient_id" if "patient_id" in labels.columns else "slide_id"
    groups: dict[str, str] = {}
    for group, rows in labels.groupby(labels[key].astype(str), sort=True):
        counts = rows["label"].astype(str).value_counts()
        groups[str(group)] = str(counts.index[0])
    return groups


def _resolve(base: Path, value: str) -> Path:
    candidate = Path(os.path.expanduser(value.strip()))
    return candidate if candidate.is_absolute() else (base / candidate).resolve()


def _is_int(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True
