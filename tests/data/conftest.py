"""Fixtures of the data tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from breakhis_tree import MAGS, PATIENTS, image_name, write_png


@pytest.fixture
def breakhis_tree(tmp_path: Path) -> Path:
    """A mirror-style download (nested one level deeper) plus stray files the index must reject."""
    root = tmp_path / "download"
    base = root / "BreaKHis_v1" / "BreaKHis_v1" / "histology_slides" / "breast"
    seed = 0
    for label, folder, patient, n in PATIENTS:
        for mag in MAGS:
            for number in range(1, n + 1):
                seed += 1
                name = image_name(patient, mag, number)
                write_png(base / label / "SOB" / folder / patient / f"{mag}X" / name, seed)
    (root / "BreaKHis_v1" / "README.txt").write_text("not an image")
    write_png(base / "benign" / "SOB" / "adenosis" / "SOB_B_A_14-22549AB" / "40X" / "scan copy.png", 999)
    write_png(base / "malignant" / "SOB" / "SOB_B_DC-14-2523-40-009.png", 998)  # class letter contradicts DC
    write_png(root / "masks" / "SOB_B_A-14-22549AB-40-001.png", 997)  # masks folders are never indexed
    (root / ".DS_Store").write_text("hidden")
    return root
