"""BreakHis index: walk a BreakHis-shaped folder tree into one table of images.

The real dataset (Spanhol et al., IEEE TBME 2016) is laid out as
``BreaKHis_v1/histology_slides/breast/{benign,malignant}/SOB/<subtype>/<SOB_B_A_14-22549AB>/<40X>/
SOB_B_A-14-22549AB-40-001.png``; common mirrors nest it one level deeper. Every fact we need is in the
file name (class, subtype, year, slide id, magnification, image number), so the index trusts names, not
folder depth: ROOT may be any ancestor folder. Files whose names do not follow the scheme are reported
with a warning that names them and are left out.

Index columns: ``path`` (absolute, resolved, so an index CSV keeps working wherever it is moved),
``patient_id`` (the patient folder name, e.g. ``SOB_B_A_14-22549AB``), ``label`` (benign|malignant),
``subtype`` (A|F|PT|TA|DC|LC|MC|PC), ``magnification`` (40|100|200|400), ``slide_group`` (the numeric
slide id, e.g. 22549: folders sharing it, such as 22549AB/22549CD/22549G or 13412 filed under both ductal
and lobular carcinoma, come from the same tissue and must never straddle a split), ``slide_id`` (with
its letter suffix), ``year`` and ``image_number``.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from pathfocus.errors import InputError

logger = logging.getLogger(__name__)

Label = Literal["benign", "malignant"]
Task = Literal["binary", "subtype"]


@dataclass(frozen=True)
class Subtype:
    """One BreakHis tumour subtype: its code, class and the folder name the dataset uses."""

    code: str
    label: Label
    name: str
    folder: str


#: The eight subtypes in the fixed order used for the ``subtype`` task (benign first, then malignant).
SUBTYPES: dict[str, Subtype] = {
    s.code: s
    for s in (
        Subtype("A", "benign", "adenosis", "adenosis"),
        Subtype("F", "benign", "fibroadenoma", "fibroadenoma"),
        Subtype("PT", "benign", "phyllodes tumor", "phyllodes_tumor"),
        Subtype("TA", "benign", "tubular adenoma", "tubular_adenoma"),
        Subtype("DC", "malignant", "ductal carcinoma", "ductal_carcinoma"),
        Subtype("LC", "malignant", "lobular carcinoma", "lobular_carcinoma"),
        Subtype("MC", "malignant", "mucinous carcinoma", "mucinous_carcinoma"),
        Subtype("PC", "malignant", "papillary carcinoma", "papillary_carcinoma"),
    )
}
LABELS: tuple[Label, Label] = ("benign", "malignant")
MAGNIFICATIONS: tuple[int, ...] = (40, 100, 200, 400)
INDEX_COLUMNS = (
    "path",
    "patient_id",
    "label",
    "subtype",
    "magnification",
    "slide_group",
    "slide_id",
    "year",
    "image_number",
)
#: Folders the index never enters: where ``pathfocus synth patches --masks`` keeps structure masks.
SKIPPED_DIRS = frozenset({"masks"})
_WARN_LIMIT = 20

_CODES = "|".join(sorted(SUBTYPES, key=len, reverse=True))
_NAME = re.compile(
    rf"^SOB_(?P<cls>[BM])_(?P<subtype>{_CODES})-(?P<year>\d{{2}})-(?P<slide>(?P<group>\d+)[A-Z]*)"
    r"-(?P<mag>40|100|200|400)-(?P<number>\d+)\.png$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class ImageRecord:
    """What one BreakHis file name says about its image."""

    path: Path
    patient_id: str
    label: Label
    subtype: str
    magnification: int
    slide_group: int
    slide_id: str
    year: int
    image_number: int


def patient_folder_name(subtype: str, year: int, slide_id: str) -> str:
    """The patient folder name BreakHis uses, e.g. ``SOB_B_A_14-22549AB``."""
    cls = "B" if SUBTYPES[subtype].label == "benign" else "M"
    return f"SOB_{cls}_{subtype}_{year:02d}-{slide_id}"


def image_file_name(subtype: str, year: int, slide_id: str, magnification: int, number: int) -> str:
    """The image file name BreakHis uses, e.g. ``SOB_B_A-14-22549AB-40-001.png``."""
    cls = "B" if SUBTYPES[subtype].label == "benign" else "M"
    return f"SOB_{cls}_{subtype}-{year:02d}-{slide_id}-{magnification}-{number:03d}.png"


def parse_image_name(path: str | os.PathLike[str]) -> ImageRecord | None:
    """Parse a BreakHis image file name; None when it does not follow the naming scheme.

    A name whose class letter contradicts its subtype (``SOB_B_DC-...``) is not a BreakHis name either.
    """
    path = Path(path)
    match = _NAME.match(path.name)
    if match is None:
        return None
    subtype = SUBTYPES[match["subtype"].upper()]
    label: Label = "benign" if match["cls"].upper() == "B" else "malignant"
    if subtype.label != label:
        return None
    year, slide_id = int(match["year"]), match["slide"].upper()
    return ImageRecord(
        path=path,
        patient_id=patient_folder_name(subtype.code, year, slide_id),
        label=label,
        subtype=subtype.code,
        magnification=int(match["mag"]),
        slide_group=int(match["group"]),
        slide_id=slide_id,
        year=year,
        image_number=int(match["number"]),
    )


def build_index(root: str | os.PathLike[str]) -> pd.DataFrame:
    """Index every BreakHis image under ``root`` (any ancestor of the ``benign``/``malignant`` folders).

    Hidden files and folders and folders named ``masks`` are ignored. A file name found twice (e.g. two
    copies of the dataset under one root) is indexed once, from its first path in sorted order.

    Raises:
        InputError: ``root`` is missing, not a folder, or holds no BreakHis-named image.
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        msg = (
            f"{root} is not a folder; pass the folder that holds BreaKHis_v1 or any folder above its images."
        )
        raise InputError(msg)
    records: dict[str, ImageRecord] = {}
    rejected: list[Path] = []
    duplicates = 0
    for path in _walk_files(root.resolve()):
        record = parse_image_name(path)
        if record is None:
            rejected.append(path)
        elif path.name.upper() in records:
            duplicates += 1
        else:
            records[path.name.upper()] = record
    _warn_rejected(rejected)
    if duplicates:
        logger.warning(
            "%d image name(s) occur more than once under %s; each was indexed once.", duplicates, root
        )
    if not records:
        msg = (
            f"no BreakHis images (named like SOB_B_A-14-22549AB-40-001.png) under {root}; "
            "pass the folder of a BreakHis download or make one with `pathfocus synth patches OUT`."
        )
        raise InputError(msg)
    frame = pd.DataFrame([_row(r) for r in records.values()], columns=list(INDEX_COLUMNS))
    frame = frame.sort_values(["label", "subtype", "patient_id", "magnification", "image_number"])
    return frame.reset_index(drop=True)


def summarize_index(index: pd.DataFrame) -> pd.DataFrame:
    """Image counts per label (rows) and magnification (columns), with totals; for CLI summaries."""
    table = pd.crosstab(index["label"], index["magnification"], margins=True, margins_name="total")
    table.columns = [str(c) if c == "total" else f"{c}X" for c in table.columns]
    return table


def class_names(task: Task) -> list[str]:
    """Class names in label order: ``binary`` benign=0, malignant=1; ``subtype`` A,F,PT,TA,DC,LC,MC,PC."""
    if task == "binary":
        return list(LABELS)
    if task == "subtype":
        return list(SUBTYPES)
    msg = f"unknown task {task!r}; use 'binary' or 'subtype'."
    raise InputError(msg)


def encode_labels(index_rows: pd.DataFrame | Iterable[Mapping[str, Any]], task: Task) -> list[int]:
    """Integer targets for ``task`` from index rows (a DataFrame or mappings with label/subtype)."""
    names = class_names(task)
    column = "label" if task == "binary" else "subtype"
    rows = index_rows.to_dict("records") if isinstance(index_rows, pd.DataFrame) else index_rows
    lookup = {name: i for i, name in enumerate(names)}
    encoded = []
    for row in rows:
        value = row[column]
        if value not in lookup:
            msg = f"{column} {value!r} is not one of {names}; check the index CSV ({row.get('path', '?')})."
            raise InputError(msg)
        encoded.append(lookup[value])
    return encoded


def read_index(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read an index CSV written by ``pathfocus index``, checking its required columns."""
    path = Path(path)
    if not path.is_file():
        msg = f"index file {path} does not exist; make one with `pathfocus index ROOT --out {path}`."
        raise InputError(msg)
    frame = pd.read_csv(path)
    missing = [c for c in INDEX_COLUMNS[:5] if c not in frame.columns]
    if missing:
        msg = f"{path} lacks column(s) {', '.join(missing)}; rebuild it: `pathfocus index ROOT --out {path}`."
        raise InputError(msg)
    return frame


def _walk_files(root: Path) -> list[Path]:
    """All non-hidden files under ``root`` in sorted order, skipping hidden and :data:`SKIPPED_DIRS`."""
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d not in SKIPPED_DIRS)
        found.extend(Path(dirpath) / f for f in sorted(filenames) if not f.startswith("."))
    return found


def _warn_rejected(rejected: list[Path]) -> None:
    for path in rejected[:_WARN_LIMIT]:
        logger.warning("not a BreakHis image name, left out of the index: %s", path)
    if len(rejected) > _WARN_LIMIT:
        logger.warning("... and %d more file(s) left out of the index.", len(rejected) - _WARN_LIMIT)


def _row(record: ImageRecord) -> dict[str, Any]:
    return {
        "path": str(record.path),
        "patient_id": record.patient_id,
        "label": record.label,
        "subtype": record.subtype,
        "magnification": record.magnification,
        "slide_group": record.slide_group,
        "slide_id": record.slide_id,
        "year": record.year,
        "image_number": record.image_number,
    }


def make_splits(
    index: pd.DataFrame,
    folds: int = 5,
    test_size: float = 0.3,
    val_size: float = 0.15,
    seed: int = 0,
    group_by: str = "slide_group",
    stratify: str = "subtype",
) -> pd.DataFrame:
    """Independent random group-disjoint train/val/test splits, one per fold (BreakHis protocol).

    Each fold draws its own ~``test_size`` share of images as test, by whole groups, within every
    stratum of ``stratify`` (so each subtype with two or more groups, hence each class, is in both train
    and test). Then ``val_size`` of each class's remaining training images becomes validation, by whole
    groups, avoiding a stratum's last training group unless the class has no other to give; each class
    with two or more training groups gives at least one, so small cohorts see both classes everywhere.
    ``val_size=0`` makes no validation part. Every image gets a subset in every fold.

    A group never straddles two subsets. By default groups are numeric slide ids (leakage-safe:
    22549AB/CD/G, and 13412 filed under two subtypes, are one group); ``group_by="patient_id"`` groups
    by patient folder instead. Groups are taken greedily in a seeded random order, each one only when
    it brings the image count nearer the target, so shares are close to, not exactly, the targets.

    Returns:
        A frame with columns ``path, fold, subset``: one row per image and fold (folds 1..``folds``).
    """
    _check_split_args(index, folds, test_size, val_size, group_by, stratify)
    groups = _group_table(index, group_by, stratify)
    parts = []
    for fold in range(1, folds + 1):
        rng = np.random.default_rng([seed, fold])
        order = list(groups.index[rng.permutation(len(groups))])
        test: set[Any] = set()
        for _, stratum in groups.groupby("stratum", sort=True):
            keys = [k for k in order if k in stratum.index]
            test |= _pick(keys, groups["n_images"], test_size * stratum["n_images"].sum())
        val: set[Any] = set()
        left = groups.loc[[k for k in order if k not in test]]
        budget = (left["stratum"].value_counts() - 1).to_dict()  # each stratum keeps one training group
        for _, part in left.groupby("label", sort=True):
            keys = [k for k in order if k in part.index]
            val |= _pick(
                keys, groups["n_images"], val_size * part["n_images"].sum(), budget, groups["stratum"]
            )
        subset_of = {k: "test" if k in test else "val" if k in val else "train" for k in order}
        subsets = index[group_by].map(subset_of).to_numpy()
        parts.append(pd.DataFrame({"path": index["path"].to_numpy(), "fold": fold, "subset": subsets}))
    return pd.concat(parts, ignore_index=True)


def summarize_splits(index: pd.DataFrame, splits: pd.DataFrame) -> pd.DataFrame:
    """Images and patients per fold, subset and label; for CLI summaries and sanity checks."""
    merged = splits.merge(index[["path", "patient_id", "label"]], on="path", how="left")
    table = merged.groupby(["fold", "subset", "label"]).agg(
        images=("path", "size"), patients=("patient_id", "nunique")
    )
    return table.reset_index()


def _check_split_args(
    index: pd.DataFrame, folds: int, test_size: float, val_size: float, group_by: str, stratify: str
) -> None:
    if folds < 1:
        msg = f"--folds must be at least 1, got {folds}."
        raise InputError(msg)
    if not 0 < test_size < 1:
        msg = f"--test-size must be between 0 and 1 (a share of images), got {test_size}."
        raise InputError(msg)
    if not 0 <= val_size < 1:
        msg = f"--val-size must be in [0, 1) (a share of the training images), got {val_size}."
        raise InputError(msg)
    for option, column in (("group_by", group_by), ("stratify", stratify)):
        if column not in index.columns:
            msg = f"{option} column {column!r} is not in the index; use one of {', '.join(index.columns)}."
            raise InputError(msg)
    if index.empty:
        msg = "the index has no images to split; build it with `pathfocus index ROOT --out index.csv`."
        raise InputError(msg)


def _group_table(index: pd.DataFrame, group_by: str, stratify: str) -> pd.DataFrame:
    """One row per group (sorted, so results do not depend on row order): size, majority stratum, label."""

    def majority(values: pd.Series) -> Any:
        return values.value_counts().sort_index().idxmax()

    grouped = index.groupby(group_by, sort=True)
    return pd.DataFrame(
        {
            "n_images": grouped.size(),
            "stratum": grouped[stratify].agg(majority),
            "label": grouped["label"].agg(majority),
        }
    )


def _pick(
    keys: list[Any],
    sizes: pd.Series,
    target: float,
    budget: dict[Any, int] | None = None,
    stratum_of: pd.Series | None = None,
) -> set[Any]:
    """Walk ``keys`` in (shuffled) order, taking a group whenever it brings the image total nearer target.

    With two or more keys, at least one is taken (if ``target`` > 0) and one left behind. ``budget``
    (updated in place) caps how many groups each stratum (``stratum_of``) may still give away; only
    when no group fits the budget is the one group taken beyond it.
    """
    if len(keys) < 2 or target <= 0:
        return set()

    def allowed(key: Any) -> bool:
        return budget is None or budget[stratum_of[key]] > 0

    taken: list[Any] = []
    total = 0
    for key in keys:
        if len(taken) == len(keys) - 1:
            break
        if allowed(key) and abs(total + sizes[key] - target) < abs(total - target):
            taken.append(key)
            total += sizes[key]
            if budget is not None:
                budget[stratum_of[key]] -= 1
    if not taken:  # one group at least, within budget if possible
        taken = ([k for k in keys if allowed(k)] or keys)[:1]
        if budget is not None:
            budget[stratum_of[taken[0]]] -= 1
    return set(taken)
