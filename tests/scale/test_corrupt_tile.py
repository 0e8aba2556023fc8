"""A corrupt tile in the middle of a large slide: that slide fails with a message naming the tile's
position, leaves no output that looks finished, and the batch goes on with the next slide."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch

from pathfocus.engines.tile_settings import TileSettings
from pathfocus.engines.tiles import encode_slide
from pathfocus.fileio import atomic_path
from pathfocus.models.tile_encoder import TileEncoder
from pathfocus.slide.batch import run_batch
from pathfocus.slide.reader import open_slide
from pathfocus.slide.tiling import tile_grid


def corrupt_tile(source: Path, target: Path, xy: tuple[int, int]) -> None:
    """Copy ``source`` to ``target`` with the level-0 tile at (x, y) overwritten by noise (not a JPEG)."""
    data = bytearray(source.read_bytes())
    with tifffile.TiffFile(source) as tif:
        page = tif.pages[0]
        index = (xy[1] // page.tilelength) * (page.imagewidth // page.tilewidth) + xy[0] // page.tilewidth
        offset, count = page.dataoffsets[index], page.databytecounts[index]
    data[offset : offset + count] = np.random.default_rng(0).integers(0, 256, count, np.uint8).tobytes()
    target.write_bytes(bytes(data))


@pytest.fixture(scope="module")
def slides(pyramid: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, tuple[int, int]]:
    """A good copy and a copy whose level-0 tile under the grid tile nearest the centre is noise."""
    folder = tmp_path_factory.mktemp("corrupt")
    with open_slide(pyramid) as slide:
        coords = tile_grid(slide, mpp=0.5, size=256).coords
    x, y = (int(v) for v in coords[np.abs(coords + 256 - 2048).sum(axis=1).argmin()])
    corrupt_tile(pyramid, folder / "a_corrupt.tiff", (x, y))
    shutil.copy(pyramid, folder / "b_good.tiff")
    return folder / "a_corrupt.tiff", folder / "b_good.tiff", (x, y)


def test_the_reader_names_the_unreadable_tile(slides: tuple[Path, Path, tuple[int, int]]) -> None:
    corrupt, _, (x, y) = slides
    from pathfocus.errors import SlideError

    with open_slide(corrupt) as slide, pytest.raises(SlideError, match=rf"a_corrupt.tiff.*\({x}, {y}\)"):
        slide.read_region((x, y), (256, 256), 0.5)


def test_the_baseline_fails_that_slide_and_the_batch_goes_on(slides: tuple[Path, Path, tuple[int, int]],
                                                             tmp_path: Path) -> None:
    corrupt, good, (x, y) = slides
    encoder = TileEncoder("test_resnet", input_size=32, pretrained=False)
    settings = TileSettings(num_workers=1)  # tiles read in a DataLoader worker process, as in analysis

    def features(path: Path) -> Path:
        return tmp_path / f"{path.stem}.npy"

    def process(path: Path) -> dict[str, int]:
        tiles = encode_slide(path, encoder, settings, torch.device("cpu"))
        with atomic_path(features(path)) as tmp, open(tmp, "wb") as handle:
            np.save(handle, tiles.features.numpy())
        return {"n_tiles": len(tiles.grid)}

    status = run_batch([corrupt, good], process, lambda path: features(path).exists(),
                       tmp_path / "status.csv").set_index("slide_id")
    assert status.loc["a_corrupt", "status"] == "failed"
    reason = status.loc["a_corrupt", "reason"]
    assert f"level-0 (x, y) ({x}, {y})" in reason and "a_corrupt.tiff" in reason
    assert "Traceback" not in reason and "\n" not in reason  # one sentence, not a worker's traceback
    assert status.loc["b_good", "status"] == "ok" and status.loc["b_good", "n_tiles"] > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b_good.npy", "status.csv"]  # no partial output
