"""Gigapixel synthetic slides are written tile by tile: memory stays far below level 0, levels step 4x."""

from __future__ import annotations

import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from pathfocus.data.synthetic.slide_tiff import pyramid_downsamples, write_aperio_tiff
from pathfocus.slide.reader import open_slide


def test_levels_step_down_4x_until_the_smallest_fits_a_thumbnail() -> None:
    assert pyramid_downsamples((2048, 2048)) == (1, 4, 16)  # the default cohorts keep their levels
    assert pyramid_downsamples((8192, 8192)) == (1, 4, 16)
    assert pyramid_downsamples((65536, 65536)) == (1, 4, 16, 64)
    assert pyramid_downsamples((131072, 131072)) == (1, 4, 16, 64, 256)


def _stripes(x: int, y: int, w: int, h: int) -> np.ndarray:
    """A cheap level-0 pattern that differs per tile (the writer, not the renderer, is under test)."""
    tile = np.empty((h, w, 3), np.uint8)
    tile[...] = ((x // w) * 37 % 200 + 30, (y // h) * 53 % 200 + 30, 180)
    tile[::8] = 250
    return tile


def test_a_16k_slide_streams_with_memory_far_below_its_first_downsampled_level(tmp_path: Path) -> None:
    size = 16384
    level0_bytes, level1_bytes = 3 * size * size, 3 * (size // 4) ** 2
    tracemalloc.start()
    try:
        write_aperio_tiff(tmp_path / "big.tiff", _stripes, (size, size), mpp=0.25, magnification=40)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < level1_bytes / 2, f"peak {peak / 2**20:.0f} MiB, level 0 is {level0_bytes / 2**20:.0f} MiB"
    with open_slide(tmp_path / "big.tiff") as slide:
        assert slide.vendor == "aperio" and slide.mpp == pytest.approx(0.25, rel=0.01)
        assert slide.level_downsamples == (1.0, 4.0, 16.0)
        assert slide.level_dimensions[1:] == ((4096, 4096), (1024, 1024))
        # a lower level is the box average of level 0 where it came from (up to JPEG)
        x, y = 5 * 256 * 16, 9 * 256 * 16
        fine = slide.read_region((x, y), (1024, 1024), 0.25).astype(np.float32)
        coarse = slide.read_region((x, y), (64, 64), 4.0).astype(np.float32)
        assert slide.reads.by_level().keys() == {0, 2}
    box = fine.reshape(64, 16, 64, 16, 3).mean(axis=(1, 3))
    assert np.abs(box - coarse).mean() < 3


@pytest.mark.slow
def test_a_32k_synthetic_40x_slide_is_drawn_in_a_fraction_of_its_level_0(tmp_path: Path) -> None:
    """The real renderer and layout, in a fresh process whose peak RSS is its own (about a minute)."""
    script = (
        "import sys\n"
        "from pathfocus.data.synthetic.slides import SlideRecipe, write_synthetic_slide\n"
        "recipe = SlideRecipe('big', 1, 5, 32768, 0.25, 0.45, 0.1, 0.1, 0.6)\n"
        "write_synthetic_slide(sys.argv[1], recipe)\n"
        "print([l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1])\n"
    )
    path = tmp_path / "big.tiff"
    command = [sys.executable, "-c", script, str(path)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    peak = int(done.stdout.split()[-1]) * 1024
    # NOTE: what remains is the interpreter and the slide's layout (1/256 of the pixels, as float fields)
    assert peak < 3 * 32768**2 / 4, f"peak RSS {peak / 2**20:.0f} MiB for a 3072 MiB level 0"
    with open_slide(path) as slide:
        assert slide.level_downsamples == (1.0, 4.0, 16.0, 64.0)
        assert slide.magnification == 40


def test_rows_drawn_in_worker_processes_give_the_same_file(tmp_path: Path) -> None:
    from pathfocus.data.synthetic.slides import SlideRecipe, write_synthetic_slide

    recipe = SlideRecipe("same", 1, 3, 1024, 0.25, 0.5, 0.1, 0.1, 0.6)
    one, two = tmp_path / "one" / "same.tiff", tmp_path / "two" / "same.tiff"  # the name is in the file
    write_synthetic_slide(one, recipe)
    write_synthetic_slide(two, recipe, workers=2)
    assert one.read_bytes() == two.read_bytes()
