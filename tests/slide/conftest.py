"""One tiny synthetic cohort and one of each bad slide, built once for the whole slide test area, and the
area's CLI commands wired as cli/main.py wires them."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
import tifffile
import typer

from pathfocus.cli import slide_cmds
from pathfocus.data.synthetic.slides import SlideRecipe, make_synthetic_cohort, write_synthetic_slide

SIZE = 2048  # level 0; levels 512 and 128 px; thumbnail at 8 um/px = level 2 = mask resolution


@pytest.fixture(scope="session")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cohort")
    return make_synthetic_cohort(out, n_slides=4, seed=7, size=SIZE)


@pytest.fixture(scope="session")
def truth(cohort: Path) -> pd.DataFrame:
    return pd.read_csv(cohort / "truth.csv")


@pytest.fixture(scope="session")
def slide_path(truth: pd.DataFrame) -> Path:
    """A positive slide (has a lesion) of the cohort."""
    return Path(truth.loc[truth["label"] == 1, "path"].iloc[0])


@pytest.fixture(scope="session")
def bad_slides(tmp_path_factory: pytest.TempPathFactory, slide_path: Path) -> dict[str, Path]:
    """name -> path of each kind of bad input (and the slide id the error must name)."""
    out = tmp_path_factory.mktemp("bad")
    recipe = SlideRecipe(
        slide_id="x",
        label=0,
        seed=3,
        size=512,
        mpp=0.5,
        tissue_share=0.4,
        lesion_share=0.0,
        pattern_share=0.1,
        severity=0.0,
    )
    write_synthetic_slide(out / "blank.tiff", replace(recipe, blank=True))
    write_synthetic_slide(out / "nompp.tiff", replace(recipe, mpp=None))
    data = slide_path.read_bytes()
    (out / "truncated.svs").write_bytes(data[: len(data) // 2])
    (out / "notaslide.svs").write_text("this is a text file, not a slide\n")
    corrupt = bytearray(data)
    with tifffile.TiffFile(slide_path) as tif:
        page = tif.pages[0]
        for index in range(
            len(page.dataoffsets)
        ):  # every level-0 tile: only the pyramid's top stays readable
            offset, count = page.dataoffsets[index], page.databytecounts[index]
            corrupt[offset : offset + count] = b"\x00" * count
    (out / "corrupt_tiles.svs").write_bytes(bytes(corrupt))
    paths = {p.stem: p for p in out.iterdir()}
    paths["missing"] = out / "missing.svs"
    return paths


@pytest.fixture()
def good_copy(tmp_path: Path, slide_path: Path) -> Path:
    """A fresh copy of a good slide in a test's own folder."""
    target = tmp_path / "slides" / slide_path.name
    target.parent.mkdir()
    shutil.copy(slide_path, target)
    return target


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    """Only this area's commands, wired the way cli/main.py wires them."""
    root = typer.Typer()
    groups = {name: typer.Typer() for name in ("synth", "slide", "train")}
    for name, group in groups.items():
        root.add_typer(group, name=name)
    slide_cmds.register(root, groups)
    return root
