"""Built-in synthetic BreakHis: procedurally drawn H&E-like patches in the real folder and file naming.

Why: the demo and the tests need data that is small, free, made offline in seconds, and shaped exactly
like a BreakHis download, so ``pathfocus index`` / ``split`` / ``train`` run unchanged on it. Each of the
eight subtypes is drawn after its textbook histology (see :mod:`pathfocus.data.synthetic.subtypes`):
benign lesions keep glands lined by small uniform nuclei, malignant ones show large, crowded, pleomorphic,
dark nuclei in sheets, single files, mucin lakes or papillae. Magnification sets the scale (one tissue
unit is ``(mag/100)**0.55`` times larger in pixels at higher power), and each patient has its own stain
and nuclear habit, so held-out patients test real generalisation.

**Synthetic data is not a substitute for real data.** It checks that the code runs end to end and that
a model can learn structure-level cues; it says nothing about accuracy on real slides. For that, point
``pathfocus index`` at a real BreakHis download.

Layout written under OUT::

    OUT/BreaKHis_v1/histology_slides/breast/{benign,malignant}/SOB/<subtype>/<SOB_B_A_14-10001AB>/<40X>/
        SOB_B_A-14-10001AB-40-001.png
    OUT/masks/BreaKHis_v1/...   (with ``write_masks``) the same relative paths and names: a PNG per image,
        255 on lesion nuclei (epithelial/tumour cells), 0 elsewhere; ``pathfocus index`` skips ``masks``.

Planted naming cases, as in the real dataset: years 14 and 15; letter suffixes (one adenosis slide split
into ``AB`` and ``CD`` folders of one patient, a fibroadenoma ``G`` suffix); slide 13412 filed under both
ductal and lobular carcinoma with identical image counts (one group for leakage-safe splits).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from pathfocus.data.breakhis import MAGNIFICATIONS, SUBTYPES, image_file_name, patient_folder_name
from pathfocus.data.synthetic.subtypes import RECIPES
from pathfocus.data.synthetic.tissue import Canvas, PatientStyle
from pathfocus.errors import InputError
from pathfocus.fileio import atomic_path

logger = logging.getLogger(__name__)

DATASET_DIR = Path("BreaKHis_v1") / "histology_slides" / "breast"
MASKS_DIR = "masks"
SHARED_SLIDE = 13412  # filed under both DC and LC, as in the real dataset
_BASE_SIZE = 128  # image size at which one tissue unit is one pixel at 100X


@dataclass(frozen=True)
class SyntheticPatient:
    """One patient folder of the synthetic tree."""

    subtype: str
    year: int
    slide_id: str

    @property
    def slide_group(self) -> int:
        return int(self.slide_id.rstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))

    @property
    def folder(self) -> Path:
        """Folder relative to OUT, e.g. ``BreaKHis_v1/.../benign/SOB/adenosis/SOB_B_A_14-10001AB``."""
        sub = SUBTYPES[self.subtype]
        name = patient_folder_name(self.subtype, self.year, self.slide_id)
        return DATASET_DIR / sub.label / "SOB" / sub.folder / name


def render_patch(
    subtype: str, magnification: int, size: int, rng: np.random.Generator, style: PatientStyle | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Draw one H&E-like patch of ``subtype`` at ``magnification``.

    Args:
        subtype: a BreakHis code (A, F, PT, TA, DC, LC, MC, PC).
        magnification: 40, 100, 200 or 400; higher power shows fewer, larger structures.
        size: image side in pixels (the field of view stays the same; larger is just sharper).
        rng: the random generator (the image is a pure function of its state).
        style: the patient's stain and nuclear habit; a random one when None.

    Returns:
        ``(image, mask)``: uint8 RGB of shape (size, size, 3) and a bool (size, size) mask of lesion nuclei.
    """
    if subtype not in RECIPES:
        msg = f"unknown subtype {subtype!r}; use one of {', '.join(RECIPES)}."
        raise InputError(msg)
    if magnification not in MAGNIFICATIONS:
        msg = f"unknown magnification {magnification}; use one of {', '.join(map(str, MAGNIFICATIONS))}."
        raise InputError(msg)
    if size < 32:
        msg = f"image size {size} px is too small to draw tissue; use at least 32."
        raise InputError(msg)
    unit = size / _BASE_SIZE * (magnification / 100) ** 0.55
    canvas = Canvas(size, unit, style or PatientStyle.draw(rng), rng)
    RECIPES[subtype](canvas)
    return canvas.render(), canvas.mask


def plan_patients(patients_per_subtype: int, seed: int = 0) -> list[SyntheticPatient]:
    """The patient folders of a synthetic tree, with the real dataset's naming cases planted."""
    if patients_per_subtype < 1:
        msg = f"patients per subtype must be at least 1, got {patients_per_subtype}."
        raise InputError(msg)
    rng = np.random.default_rng([seed, 7])
    numbers = iter(rng.permutation(np.arange(10000, 30000))[: 8 * patients_per_subtype + 8])
    patients = []
    for s, code in enumerate(SUBTYPES):
        for k in range(patients_per_subtype):
            year = 15 if (s + k) % 4 == 3 else 14
            number = next(n for n in numbers if n != SHARED_SLIDE)
            slide_id = str(number)
            if code in ("DC", "LC") and k == 0:
                year, slide_id = 14, str(SHARED_SLIDE)
            elif code == "A" and k in (0, 1):
                slide_id = f"{patients[0].slide_group if k else number}{'CD' if k else 'AB'}"
            elif code == "F" and k == 0:
                slide_id = f"{number}G"
            patients.append(SyntheticPatient(code, year, slide_id))
    return patients


def make_synthetic_patches(
    out: str | os.PathLike[str],
    patients_per_subtype: int = 3,
    images_per_patient: int = 8,
    image_size: int = 128,
    magnifications: tuple[int, ...] = MAGNIFICATIONS,
    seed: int = 0,
    write_masks: bool = False,
) -> Path:
    """Write a synthetic BreakHis tree under ``out`` and return ``out`` (the root to index).

    ``images_per_patient`` images are drawn per patient *and* magnification. Everything is a pure
    function of ``seed``. Files are written atomically; an existing tree is overwritten file by file.
    """
    out = Path(out)
    if images_per_patient < 1:
        msg = f"images per patient must be at least 1, got {images_per_patient}."
        raise InputError(msg)
    for mag in magnifications:
        if mag not in MAGNIFICATIONS:
            msg = f"unknown magnification {mag}; use some of {', '.join(map(str, MAGNIFICATIONS))}."
            raise InputError(msg)
    patients = plan_patients(patients_per_subtype, seed)
    codes = list(SUBTYPES)
    for patient in patients:
        style = PatientStyle.draw(np.random.default_rng([seed, patient.slide_group]))
        for mag in magnifications:
            folder = out / patient.folder / f"{mag}X"
            folder.mkdir(parents=True, exist_ok=True)
            for number in range(1, images_per_patient + 1):
                key = [seed, patient.slide_group, codes.index(patient.subtype), mag, number]
                image, mask = render_patch(
                    patient.subtype, mag, image_size, np.random.default_rng(key), style
                )
                name = image_file_name(patient.subtype, patient.year, patient.slide_id, mag, number)
                _write_png(folder / name, image)
                if write_masks:
                    _write_png(
                        out / MASKS_DIR / patient.folder / f"{mag}X" / name, mask.astype(np.uint8) * 255
                    )
    logger.info(
        "wrote %d synthetic patches under %s", len(patients) * len(magnifications) * images_per_patient, out
    )
    return out


def mask_path(image_path: str | os.PathLike[str], out: str | os.PathLike[str]) -> Path:
    """Where :func:`make_synthetic_patches` put the lesion-nucleus mask of ``image_path`` (under ``out``)."""
    image_path, out = Path(image_path).resolve(), Path(out).resolve()
    try:
        relative = image_path.relative_to(out)
    except ValueError:
        msg = f"{image_path} is not inside the synthetic tree {out}; pass the OUT folder it was written to."
        raise InputError(msg) from None
    return out / MASKS_DIR / relative


def _write_png(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        Image.fromarray(array).save(tmp, format="PNG", compress_level=1)
