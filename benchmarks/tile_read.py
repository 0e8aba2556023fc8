"""Tile reading through pathfocus (reader, TileDataset, DataLoader) vs a bare OpenSlide loop, same run.

Budget (docs/design.md section 8): our single-process rate >= 0.9 x the bare ``openslide.read_region``
loop over the same coordinates. Each variant opens a fresh handle (cold OpenSlide cache, warm OS page
cache) and the rounds alternate their order; the median of the rounds is reported.

    python benchmarks/tile_read.py [--slide PATH] [--size 8192] [--rounds 3] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import openslide
import torch
from torch.utils.data import DataLoader, Dataset

from pathfocus.data.synthetic.slides import SlideRecipe, write_synthetic_slide
from pathfocus.slide.dataset import TileDataset
from pathfocus.slide.reader import open_slide
from pathfocus.slide.tiling import tile_grid

BUDGET = 0.9
TILE = 256
MPP = 0.5


class BareDataset(Dataset):
    """The same tiles straight from OpenSlide, one handle per worker process."""

    def __init__(self, path: Path, coords: np.ndarray) -> None:
        self.path, self.coords, self.handle = path, coords, None

    def __len__(self) -> int:
        return len(self.coords)

    def __getitem__(self, index: int) -> torch.Tensor:
        if self.handle is None:
            self.handle = openslide.OpenSlide(self.path)
        x, y = self.coords[index]
        return torch.from_numpy(np.array(self.handle.read_region((int(x), int(y)), 0, (TILE, TILE))))


Reader = Callable[[int], object]


def bare_reader(path: Path, coords: np.ndarray) -> Reader:
    handle = openslide.OpenSlide(path)
    return lambda i: handle.read_region((int(coords[i, 0]), int(coords[i, 1])), 0, (TILE, TILE))


def slide_reader(path: Path, coords: np.ndarray) -> Reader:
    slide = open_slide(path)
    return lambda i: slide.read_region((int(coords[i, 0]), int(coords[i, 1])), (TILE, TILE), MPP)


def dataset_reader(path: Path, coords: np.ndarray) -> Reader:
    return TileDataset(path, coords, TILE, MPP).__getitem__


SINGLE = {
    "bare openslide loop": bare_reader,
    "Slide.read_region loop": slide_reader,
    "TileDataset loop": dataset_reader,
}


def interleaved_rates(
    path: Path, coords: np.ndarray, rounds: int, chunk: int = 16
) -> tuple[dict[str, float], dict[str, float]]:
    """Tiles per wall second and per CPU second of the single-process readers.

    The readers alternate every ``chunk`` tiles so load swings of a shared machine hit them alike; CPU
    time (this process only) is the steadier figure there, and equals wall time on an idle machine.
    Each reader has its own handle (own OpenSlide tile cache); each round starts with fresh handles.
    """
    wall = dict.fromkeys(SINGLE, 0.0)
    cpu = dict.fromkeys(SINGLE, 0.0)
    for round_index in range(rounds):
        readers = {name: make(path, coords) for name, make in SINGLE.items()}
        for start in range(0, len(coords), chunk):
            order = list(SINGLE) if (start // chunk + round_index) % 2 == 0 else list(SINGLE)[::-1]
            for name in order:
                wall_start, cpu_start = time.perf_counter(), time.process_time()
                for index in range(start, min(start + chunk, len(coords))):
                    readers[name](index)
                wall[name] += time.perf_counter() - wall_start
                cpu[name] += time.process_time() - cpu_start
    tiles = rounds * len(coords)
    return {n: tiles / v for n, v in wall.items()}, {n: tiles / v for n, v in cpu.items()}


def loader_loop(dataset: Dataset, workers: int) -> int:
    count = 0
    for batch in DataLoader(dataset, batch_size=32, num_workers=workers):
        count += len(batch[0]) if isinstance(batch, list | tuple) else len(batch)
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slide", type=Path, help="slide to read (default: a synthetic 0.5 um/px slide)")
    parser.add_argument("--size", type=int, default=8192, help="level-0 size of the synthetic slide")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(1)

    with tempfile.TemporaryDirectory() as tmp:
        path = args.slide
        if path is None:
            path = Path(tmp) / "bench.tiff"
            recipe = SlideRecipe(
                slide_id="bench",
                label=1,
                seed=11,
                size=args.size,
                mpp=MPP,
                tissue_share=0.5,
                lesion_share=0.1,
                pattern_share=0.1,
                severity=0.6,
            )
            start = time.perf_counter()
            write_synthetic_slide(path, recipe)
            print(f"synthetic {args.size}^2 slide written in {time.perf_counter() - start:.1f} s")
        with open_slide(path) as slide:
            coords = tile_grid(slide, mpp=MPP, size=TILE, min_tissue=0.5).coords
            if not np.isclose(slide.mpp, MPP):
                raise SystemExit(f"this benchmark reads level 0 at {MPP} um/px; {path} is {slide.mpp} um/px")
        print(f"{len(coords)} tissue tiles of {TILE} px at {MPP} um/px from {path.name}")
        warm = bare_reader(path, coords)
        for index in range(len(coords)):  # warm the OS page cache
            warm(index)

        median, per_cpu = interleaved_rates(path, coords, args.rounds)
        loaders: dict[str, Callable[[], int]] = {
            f"bare Dataset, DataLoader x{args.workers}": lambda: loader_loop(
                BareDataset(path, coords), args.workers
            ),
            f"TileDataset, DataLoader x{args.workers}": lambda: loader_loop(
                TileDataset(path, coords, TILE, MPP), args.workers
            ),
        }
        results: dict[str, list[float]] = {name: [] for name in loaders}
        for round_index in range(args.rounds):
            for name in list(loaders)[:: 1 if round_index % 2 == 0 else -1]:
                start = time.perf_counter()
                count = loaders[name]()
                results[name].append(count / (time.perf_counter() - start))
        median.update({name: statistics.median(values) for name, values in results.items()})

    print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"{'variant':<34} {'tiles/s':>9} {'ratio':>7} {'tiles/cpu-s':>12} {'ratio':>7}")
    bare, bare_cpu = median["bare openslide loop"], per_cpu["bare openslide loop"]
    for name in SINGLE:
        print(
            f"{name:<34} {median[name]:9.0f} {median[name] / bare:7.3f} "
            f"{per_cpu[name]:12.0f} {per_cpu[name] / bare_cpu:7.3f}"
        )
    bare_loader = median[f"bare Dataset, DataLoader x{args.workers}"]
    for name in loaders:
        print(f"{name:<34} {median[name]:9.0f} {median[name] / bare_loader:7.3f}")
    worst = min(median["Slide.read_region loop"], median["TileDataset loop"]) / bare
    worst_cpu = min(per_cpu["Slide.read_region loop"], per_cpu["TileDataset loop"]) / bare_cpu
    for label, ratio in (("wall", worst), ("cpu", worst_cpu)):
        verdict = "PASS" if ratio >= BUDGET else "FAIL"
        print(
            f"single-process {label} ratio (worse of reader, TileDataset): {ratio:.3f} (>={BUDGET}) {verdict}"
        )


if __name__ == "__main__":
    main()
