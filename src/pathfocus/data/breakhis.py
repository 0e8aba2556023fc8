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
