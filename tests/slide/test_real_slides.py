"""`slide info` and `slide tile` on three small real slides (tests/data/real, see SOURCES.md there).

CMU-1-Small-Region: Aperio, 0.499 um/px. TCGA-CR-7395: Aperio JPEG 2000 without mpp, refused until
--slide-mpp says it. fluorescence-DAPI: a Hamamatsu fluorescence scan, refused (our methods are for
brightfield H&E; tissue detection used to tile its dark background).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from pathfocus.errors import InputError
from pathfocus.slide.reader import open_slide
from pathfocus.slide.tiling import read_tiles_h5
from pathfocus.slide.tissue import check_brightfield, saturation

REAL = Path(__file__).resolve().parents[1] / "data" / "real"
CMU = REAL / "CMU-1-Small-Region.svs"
TCGA = REAL / "TCGA-CR-7395-01A-01-TS1.svs"
FLUORESCENCE = REAL / "fluorescence-DAPI.ndpi"
runner = CliRunner()



def _one_line(text: str) -> str:
    return " ".join(text.split())


def test_the_real_slides_are_vendored_with_their_attribution() -> None:
    sources = (REAL / "SOURCES.md").read_text()
    for path in (CMU, TCGA, FLUORESCENCE):
        assert path.is_file() and path.stat().st_size > 1_000_000, f"{path.name} missing or an LFS pointer"
        assert path.name in sources
    assert "Apache-2.0" in sources and "CC-BY-4.0" in sources


def test_info_reads_an_aperio_slides_metadata(app: typer.Typer) -> None:
    result = runner.invoke(app, ["slide", "info", str(CMU)])
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["dimensions"] == [2220, 2967]
    assert info["level_count"] == 1
    assert info["mpp"] == pytest.approx(0.499)
    assert info["magnification"] == 20.0
    assert info["vendor"] == "aperio"


def test_info_without_mpp_names_the_option_and_takes_it(app: typer.Typer) -> None:
    result = runner.invoke(app, ["slide", "info", str(TCGA)])
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["mpp"] is None
    assert info["dimensions"] == [4443, 3567] and info["level_count"] == 2
    assert "--slide-mpp" in _one_line(result.stderr)
    given = runner.invoke(app, ["slide", "info", str(TCGA), "--slide-mpp", "0.5"])
    assert given.exit_code == 0, given.output
    assert json.loads(given.stdout)["mpp"] == 0.5


def test_info_reads_a_fluorescence_ndpi(app: typer.Typer) -> None:
    result = runner.invoke(app, ["slide", "info", str(FLUORESCENCE)])
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["vendor"] == "hamamatsu" and info["dimensions"] == [3968, 4864] and info["level_count"] == 7
    assert info["mpp"] == pytest.approx(0.228, abs=0.001)


def test_tiling_without_mpp_is_refused_in_one_sentence(app: typer.Typer, tmp_path: Path) -> None:
    result = runner.invoke(app, ["slide", "tile", str(TCGA), "--out", str(tmp_path / "t.h5")])
    assert result.exit_code == 1
    message = _one_line(result.output)
    assert "no microns-per-pixel" in message and "--slide-mpp" in message
    assert "Traceback" not in result.output and not (tmp_path / "t.h5").exists()


@pytest.mark.parametrize(("slide", "slide_mpp"), [(CMU, None), (TCGA, "0.5")], ids=["cmu", "tcga"])
def test_tiles_lie_on_tissue(app: typer.Typer, tmp_path: Path, slide: Path, slide_mpp: str | None) -> None:
    out = tmp_path / "tiles.h5"
    args = ["slide", "tile", str(slide), "--out", str(out), "--mpp", "0.5", "--size", "256"]
    result = runner.invoke(app, args + (["--slide-mpp", slide_mpp] if slide_mpp else []))
    assert result.exit_code == 0, result.output
    grid = read_tiles_h5(out)
    assert len(grid) >= 20
    with open_slide(slide, mpp=None if slide_mpp is None else float(slide_mpp)) as opened:
        width, height = opened.dimensions
        assert ((grid.coords >= 0) & (grid.coords < [width, height])).all()
        for x, y in grid.coords:
            tile = opened.read_region((int(x), int(y)), (256, 256), 0.5)
            coloured = float((saturation(tile) > 0.15).mean())
            assert coloured > 0.25 and tile.mean() < 215, f"tile at ({x}, {y}) looks like glass"
        glass = opened.read_region((0, 0), (256, 256), 0.5)  # the top-left corner is bare glass on both
    assert (saturation(glass) > 0.15).mean() < 0.05
    assert not ((grid.coords[:, 0] < 256) & (grid.coords[:, 1] < 256)).any()


def test_a_fluorescence_slide_is_refused_instead_of_tiled(app: typer.Typer, tmp_path: Path) -> None:
    single = runner.invoke(app, ["slide", "tile", str(FLUORESCENCE), "--out", str(tmp_path / "f.h5")])
    assert single.exit_code == 1
    message = _one_line(single.output)
    assert "fluorescence" in message and "brightfield" in message and "Traceback" not in single.output
    assert not (tmp_path / "f.h5").exists()
    batch = runner.invoke(app, ["slide", "tile", str(CMU), str(FLUORESCENCE), "--out", str(tmp_path / "b")])
    assert batch.exit_code == 1  # one slide failed; the other was tiled
    assert (tmp_path / "b" / "CMU-1-Small-Region.h5").is_file()
    assert not (tmp_path / "b" / "fluorescence-DAPI.h5").exists()
    status = (tmp_path / "b" / "status.csv").read_text()
    assert "fluorescence" in status


def test_brightfield_check_on_arrays() -> None:
    check_brightfield(np.full((32, 32, 3), 240, np.uint8), "white.svs")  # glass: fine
    pink = np.zeros((32, 32, 3), np.uint8) + np.array([200, 120, 170], np.uint8)
    check_brightfield(pink, "all_tissue.svs")  # tissue everywhere is still brightfield
    with pytest.raises(InputError, match=r"dark\.ndpi .*fluorescence"):
        check_brightfield(np.full((32, 32, 3), 8, np.uint8), "dark.ndpi")
