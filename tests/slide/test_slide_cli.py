"""`slide info`, `slide tile` and `synth slides` through typer's CliRunner, bad inputs included."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from pathfocus.slide.reader import open_slide
from pathfocus.slide.tiling import tile_grid

BAD = {
    "truncated": "truncated",
    "notaslide": "not a slide",
    "missing": "does not exist",
    "blank": "no tissue",
    "nompp": "--slide-mpp",
    "corrupt_tiles": "corrupt",
}



runner = CliRunner()


def test_info_prints_the_metadata_as_json(app: typer.Typer, slide_path: Path) -> None:
    result = runner.invoke(app, ["slide", "info", str(slide_path)])
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["mpp"] == 0.5 and info["magnification"] == 20.0 and info["vendor"] == "aperio"
    assert (
        info["dimensions"] == [2048, 2048]
        and info["level_count"] == 3
        and info["level_downsamples"] == [1, 4, 16]
    )


def test_info_says_when_mpp_is_missing_and_takes_it(app: typer.Typer, bad_slides: dict[str, Path]) -> None:
    result = runner.invoke(app, ["slide", "info", str(bad_slides["nompp"])])
    assert result.exit_code == 0 and json.loads(result.stdout)["mpp"] is None
    assert "no mpp" in result.stderr
    given = runner.invoke(app, ["slide", "info", str(bad_slides["nompp"]), "--mpp", "0.25"])
    assert json.loads(given.stdout)["mpp"] == 0.25


def test_tile_one_slide_into_an_h5(app: typer.Typer, slide_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "tiles.h5"
    result = runner.invoke(
        app, ["slide", "tile", str(slide_path), "--out", str(out), "--size", "128", "--min-tissue", "0.6"]
    )
    assert result.exit_code == 0, result.output
    with open_slide(slide_path) as slide:
        expected = tile_grid(slide, mpp=0.5, size=128, min_tissue=0.6)
    with h5py.File(out) as h5:
        assert h5["coords"].shape == (len(expected), 2)
        assert h5["coords"].attrs["patch_size"] == 128
    assert f"{len(expected)} tiles" in result.stdout


@pytest.mark.parametrize("name", sorted(BAD))
def test_each_bad_slide_gives_one_sentence_and_exit_1(
    app: typer.Typer, bad_slides: dict[str, Path], tmp_path: Path, name: str
) -> None:
    out = tmp_path / "tiles.h5"
    result = runner.invoke(app, ["slide", "tile", str(bad_slides[name]), "--out", str(out)])
    assert result.exit_code == 1
    assert "Traceback" not in result.output and isinstance(
        result.exception, SystemExit
    )  # typer.Exit, not a crash
    message = " ".join(result.stderr.split())
    assert message.startswith("error:") and bad_slides[name].name in message and BAD[name] in message
    assert not out.exists() and not list(tmp_path.iterdir())


def test_batch_continues_past_bad_slides_and_skips_finished(
    app: typer.Typer, bad_slides: dict[str, Path], good_copy: Path, tmp_path: Path
) -> None:
    folder = good_copy.parent
    for name in ("truncated", "notaslide", "blank", "nompp"):
        shutil.copy(bad_slides[name], folder / bad_slides[name].name)
    out = tmp_path / "tiles"
    args = ["slide", "tile", str(folder), str(folder / "gone.svs"), "--out", str(out)]
    first = runner.invoke(app, args)
    assert first.exit_code == 1
    status = pd.read_csv(out / "status.csv").set_index("slide_id")
    assert status.loc[good_copy.stem, "status"] == "ok" and status.loc[good_copy.stem, "n_tiles"] > 0
    for name in ("truncated", "notaslide", "blank", "nompp", "gone"):
        assert status.loc[name, "status"] == "failed" and name in status.loc[name, "reason"]
    assert sorted(p.name for p in out.iterdir()) == [f"{good_copy.stem}.h5", "status.csv"]
    assert "1 ok, 0 skipped, 5 failed" in first.stdout

    second = runner.invoke(app, args)
    again = pd.read_csv(out / "status.csv").set_index("slide_id")
    assert again.loc[good_copy.stem, "status"] == "skipped" and (again["status"] == "failed").sum() == 5
    assert second.exit_code == 1
    resized = runner.invoke(app, [*args, "--size", "128"])  # other settings: the finished slide is redone
    assert pd.read_csv(out / "status.csv").set_index("slide_id").loc[good_copy.stem, "status"] == "ok"
    assert resized.exit_code == 1


def test_synth_slides_command(app: typer.Typer, tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["synth", "slides", str(tmp_path / "c"), "--slides", "2", "--seed", "3", "--size", "512"]
    )
    assert result.exit_code == 0, result.output
    labels = pd.read_csv(tmp_path / "c" / "labels.csv")
    assert list(labels.columns) == ["slide_id", "path", "label"] and sorted(labels["label"]) == [0, 1]
    assert all(Path(p).exists() for p in labels["path"])
    bad = runner.invoke(app, ["synth", "slides", str(tmp_path / "d"), "--slides", "2", "--size", "500"])
    assert bad.exit_code == 1 and "multiple of 256" in bad.stderr
