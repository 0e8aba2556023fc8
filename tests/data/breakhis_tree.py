"""Builders for a BreakHis-shaped test tree with the real naming quirks, made of tiny PNGs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

# (label, subtype folder, patient folder, images per magnification); mirrors real naming quirks:
# year 15, letter suffixes (22549AB/CD/G share slide 22549), 13412 under ductal and lobular carcinoma.
PATIENTS = [
    ("benign", "adenosis", "SOB_B_A_14-22549AB", 2),
    ("benign", "adenosis", "SOB_B_A_14-22549CD", 2),
    ("benign", "adenosis", "SOB_B_A_14-22549G", 1),
    ("benign", "fibroadenoma", "SOB_B_F_15-25197", 2),
    ("benign", "fibroadenoma", "SOB_B_F_14-14134E", 1),
    ("benign", "phyllodes_tumor", "SOB_B_PT_14-21998AB", 1),
    ("benign", "tubular_adenoma", "SOB_B_TA_14-3411F", 2),
    ("malignant", "ductal_carcinoma", "SOB_M_DC_14-13412", 2),
    ("malignant", "ductal_carcinoma", "SOB_M_DC_14-2523", 1),
    ("malignant", "lobular_carcinoma", "SOB_M_LC_14-13412", 2),
    ("malignant", "mucinous_carcinoma", "SOB_M_MC_15-19979", 1),
    ("malignant", "papillary_carcinoma", "SOB_M_PC_14-9146", 1),
]
MAGS = (40, 100, 200, 400)
N_IMAGES = sum(n for *_, n in PATIENTS) * len(MAGS)  # 18 per magnification, 72 in all


def image_name(patient: str, mag: int, number: int) -> str:
    """SOB_B_A_14-22549AB -> SOB_B_A-14-22549AB-40-001.png (the file name of the real dataset)."""
    head, rest = patient.rsplit("_", 1)
    return f"{head}-{rest}-{mag}-{number:03d}.png"


def write_png(path: Path, seed: int, size: int = 8) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 255, (size, size, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
