"""Tile grids against the tissue area, HDF5 round trips and the torch Dataset."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from pathfocus.errors import InputError, NoTissueError
from pathfocus.slide.reader import open_slide
from pathfocus.slide.tiling import TileDataset, TileSpec, read_tiles_h5, tile_grid, tile_slide, write_tiles_h5
from pathfocus.slide.tissue import slide_tissue


@pytest.fixture(scope="module")
def slide(slide_path: Path):
    with open_slide(slide_path) as opened:
        yield opened


def test_tissue_fractions_add_up_to_the_tissue_area(slide) -> None:
    tissue = slide_tissue(slide)
    grid = tile_grid(slide, mpp=0.5, size=256, min_tissue=0.0, tissue=tissue)
    # 256 level-0 px tiles partition the 2048 px slide, 16 x 16 mask pixels each: the sum is exact
    assert grid.tissue_fraction.sum() * 16 * 16 == pytest.approx(tissue.mask.sum(), abs=1e-3)
    # at >= 50 % tissue, edge tiles kept and dropped cancel out: the count is the tissue area in tiles
    half = tile_grid(slide, mpp=0.5, size=128, min_tissue=0.5, tissue=tissue)
    tiles_of_tissue = tissue.base_area() / 128**2
    assert len(half) == pytest.approx(tiles_of_tissue, rel=0.1)
    assert (half.tissue_fraction >= 0.5).all()


def test_coords_lie_on_the_stride_inside_the_slide(slide) -> None:
    grid = tile_grid(slide, mpp=0.5, size=128, overlap=32, min_tissue=0.25)
    assert grid.coords.dtype == np.int64 and grid.coords.shape[1] == 2
    assert grid.base_stride == 96 and (grid.coords % 96 == 0).all()
    assert (grid.coords >= 0).all() and (grid.coords + 128 <= 2048).all()


@pytest.mark.parametrize(
    ("mpp", "level", "read_size", "base_size"),
    [(0.5, 0, 256, 256), (1.0, 0, 512, 512), (2.0, 1, 256, 1024), (3.0, 1, 384, 1536)],
)
def test_tile_spec_spells_out_the_read(slide, mpp: float, level: int, read_size: int, base_size: int) -> None:
    spec = TileSpec.for_slide(slide, mpp, 256)
    assert (spec.level, spec.read_size, spec.base_size) == (level, read_size, base_size)


def test_bad_grid_options_are_refused(slide) -> None:
    with pytest.raises(InputError, match="overlap"):
        tile_grid(slide, size=256, overlap=256)
    with pytest.raises(InputError, match="min_tissue"):
        tile_grid(slide, min_tissue=1.5)


def test_h5_round_trip_with_clam_style_attributes(slide, tmp_path: Path) -> None:
    grid = tile_grid(slide, mpp=1.0, size=128, min_tissue=0.5)
    path = write_tiles_h5(tmp_path / "tiles.h5", grid)
    with h5py.File(path, "r") as h5:
        coords = h5["coords"]
        assert coords.shape == (len(grid), 2) and coords.dtype == np.int64
        attrs = dict(coords.attrs)
    assert attrs["patch_size"] == 128 and attrs["patch_level"] == 0 and attrs["patch_size_level0"] == 256
    assert attrs["mpp"] == 1.0 and attrs["level0_mpp"] == 0.5 and attrs["target_magnification"] == 10.0
    assert attrs["slide_path"] == str(slide.path) and attrs["min_tissue"] == 0.5 == attrs["tissue_threshold"]
    back = read_tiles_h5(path)
    assert np.array_equal(back.coords, grid.coords) and np.allclose(
        back.tissue_fraction, grid.tissue_fraction
    )
    assert back.spec == grid.spec and back.slide_id == slide.slide_id
    assert not list(tmp_path.glob(".*tmp*"))  # the atomic write left no temporary file


def test_unreadable_h5_is_an_input_error(tmp_path: Path) -> None:
    (tmp_path / "junk.h5").write_text("not hdf5")
    with pytest.raises(InputError, match=r"junk\.h5"):
        read_tiles_h5(tmp_path / "junk.h5")


def test_tile_slide_refuses_a_blank_slide(bad_slides: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(NoTissueError, match="blank"):
        tile_slide(bad_slides["blank"], tmp_path / "blank.h5")
    assert not (tmp_path / "blank.h5").exists()


def test_dataset_reads_the_tiles_also_in_workers(slide, slide_path: Path) -> None:
    grid = tile_grid(slide, mpp=1.0, size=64, min_tissue=0.5)
    coords = grid.coords[:6]
    dataset = TileDataset(slide_path, coords, size=64, mpp=1.0)
    image, coord = dataset[2]
    assert image.shape == (3, 64, 64) and image.dtype == torch.uint8
    assert np.array_equal(coord.numpy(), coords[2])
    expected = slide.read_region(tuple(coords[2]), (64, 64), 1.0)
    assert np.array_equal(image.permute(1, 2, 0).numpy(), expected)
    batches = list(DataLoader(dataset, batch_size=3, num_workers=2))
    stacked = torch.cat([images for images, _ in batches])
    assert stacked.shape == (6, 3, 64, 64)
    assert torch.equal(stacked[2], image)
    with_transform = TileDataset(slide_path, coords, 64, 1.0, transform=lambda pil: pil.size)
    assert with_transform[0][0] == (64, 64)
