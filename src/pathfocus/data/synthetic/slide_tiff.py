"""Write pyramidal, tiled-JPEG TIFFs that OpenSlide opens as Aperio slides (with mpp and magnification).

Everything streams: level 0 is rendered a row of tiles at a time from a callback (in ``workers`` forked
processes when more than one), JPEG-encoded (the bytes tifffile itself would write) and handed to
tifffile in order; each lower level is box-averaged from the level-0 tiles as they pass, one strip of its
tiles at a time, and kept only as its encoded tiles until level 0 is complete. Memory is therefore a few
strips plus the compressed lower levels, whatever the slide's size (4 x 10^9 pixels for a 65536 px slide).
Layout (what OpenSlide's Aperio driver expects, see FACTS.md): first page description
``Aperio Image Library ...|AppMag = M|MPP = m``, level 0 tiled, then a stripped thumbnail page, then the
lower levels tiled, all with ``subfiletype=0``. Levels step down by 4x, as scanners write them.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import imagecodecs
import numpy as np
import tifffile
from PIL import Image

from pathfocus.errors import InputError
from pathfocus.fileio import atomic_path

# (x, y, w, h) in level-0 pixels -> HxWx3 uint8
TileRenderer = Callable[[int, int, int, int], np.ndarray]

THUMBNAIL_MAX_SIDE = 1024
BASE_DOWNSAMPLES = (1, 4, 16)  # every synthetic slide has these levels; larger ones add 4x steps
SMALLEST_LEVEL_SIDE = 1024  # levels are added until the smallest is no larger than this


def pyramid_downsamples(size: tuple[int, int], tile: int = 256) -> tuple[int, ...]:
    """Downsamples 1, 4, 16, then further 4x steps while the smallest level is over 1024 px on a side.

    Each factor divides ``tile`` (a level-0 tile reduces to whole pixels), which caps it at ``tile``.
    """
    factors = list(BASE_DOWNSAMPLES)
    while max(size) // factors[-1] > SMALLEST_LEVEL_SIDE and factors[-1] * 4 <= tile:
        factors.append(factors[-1] * 4)
    return tuple(factors)


def aperio_description(
    size: tuple[int, int], tile: int, mpp: float | None, magnification: float | None, quality: int, name: str
) -> str:
    """The ImageDescription OpenSlide's Aperio driver parses (keys after the first ``|``)."""
    width, height = size
    fields = [
        f"Aperio Image Library v12.0.15 \r\n{width}x{height} [0,0 {width}x{height}] ({tile}x{tile}) "
        f"JPEG/RGB Q={quality}"
    ]
    if magnification is not None:
        fields.append(f"AppMag = {magnification:g}")
    if mpp is not None:
        fields.append(f"MPP = {mpp:.4f}")
    fields.append(f"Filename = {name}")
    fields.append("ScanScope ID = PATHFOCUS-SYNTH")
    return "|".join(fields)


class _LowerLevel:
    """One lower pyramid level filled from level-0 tiles: a strip of ``tile`` rows at a time, JPEG-encoded
    into tiles as soon as the strip is complete (the smallest level also keeps its pixels, for the
    thumbnail page)."""

    def __init__(self, factor: int, size: tuple[int, int], tile: int, quality: int, keep: bool) -> None:
        self.factor, self.tile, self.quality = factor, tile, quality
        self.width, self.height = size[0] // factor, size[1] // factor
        self.strip = np.zeros((tile, self.width, 3), np.uint8)
        self.tiles: list[bytes] = []
        self.pixels = np.zeros((self.height, self.width, 3), np.uint8) if keep else None

    def add(self, x: int, y: int, small: np.ndarray) -> None:
        """Place the level-0 tile at (x, y), box-averaged to this level, into the strip."""
        row, col = (y // self.factor) % self.tile, x // self.factor
        self.strip[row : row + small.shape[0], col : col + small.shape[1]] = small

    def end_row(self, y_end: int) -> None:
        """Encode the strip once level 0 is complete down to level-0 row ``y_end`` and the strip is full."""
        rows = y_end // self.factor
        if rows % self.tile and rows < self.height:
            return
        top = (rows - 1) // self.tile * self.tile
        strip = self.strip[: rows - top]
        if self.pixels is not None:
            self.pixels[top:rows] = strip
        for x in range(0, self.width, self.tile):
            block = np.zeros((self.tile, self.tile, 3), np.uint8)  # edge tiles zero-padded, as tifffile does
            part = strip[:, x : x + self.tile]
            block[: part.shape[0], : part.shape[1]] = part
            self.tiles.append(_encode_jpeg(block, self.quality))
        self.strip[:] = 0


def _encode_jpeg(block: np.ndarray, quality: int) -> bytes:
    """A tile encoded exactly as tifffile encodes JPEG RGB tiles (YCbCr, 2x2 chroma subsampling)."""
    return imagecodecs.jpeg_encode(
        block, level=quality, subsampling=(2, 2), colorspace="RGB", outcolorspace="YCBCR"
    )


@dataclass(frozen=True)
class _RowRenderer:
    """The level-0 tile row at ``y``: its tiles JPEG-encoded, and each box-averaged for every lower level."""

    render: TileRenderer
    width: int
    tile: int
    factors: tuple[int, ...]  # of the lower levels
    quality: int

    def __call__(self, y: int) -> tuple[list[bytes], list[list[np.ndarray]]]:
        encoded: list[bytes] = []
        reduced: list[list[np.ndarray]] = [[] for _ in self.factors]
        for x in range(0, self.width, self.tile):
            pixels = np.ascontiguousarray(self.render(x, y, self.tile, self.tile), dtype=np.uint8)
            encoded.append(_encode_jpeg(pixels, self.quality))
            image = Image.fromarray(pixels)
            for smalls, factor in zip(reduced, self.factors, strict=True):
                smalls.append(np.asarray(image.reduce(factor)))
        return encoded, reduced


# NOTE: a pool worker's row renderer, inherited through fork when the pool starts (never pickled: a large
# slide's layout is hundreds of megabytes); set only inside worker processes
_WORKER_ROWS: _RowRenderer | None = None


def _keep_rows(rows: _RowRenderer) -> None:
    global _WORKER_ROWS
    _WORKER_ROWS = rows


def _worker_row(y: int) -> tuple[list[bytes], list[list[np.ndarray]]]:
    assert _WORKER_ROWS is not None  # set by the pool's initializer
    return _WORKER_ROWS(y)


def _rows(rows: _RowRenderer, height: int, workers: int) -> Iterator[tuple[int, list[bytes], list]]:
    """Every tile row, in order: ``(y, encoded tiles, reduced tiles per lower level)``."""
    ys = range(0, height, rows.tile)
    if workers <= 1:
        for y in ys:
            yield y, *rows(y)
        return
    with multiprocessing.get_context("fork").Pool(workers, _keep_rows, (rows,)) as pool:
        for y, (encoded, reduced) in zip(ys, pool.imap(_worker_row, ys), strict=True):
            yield y, encoded, reduced


def write_aperio_tiff(
    path: str | os.PathLike[str],
    render: TileRenderer,
    size: tuple[int, int],
    mpp: float | None = 0.5,
    magnification: float | None = 20.0,
    downsamples: Sequence[int] | None = None,
    tile: int = 256,
    quality: int = 85,
    workers: int = 1,
) -> Path:
    """Render level 0 with ``render`` tile by tile and write the pyramid atomically to ``path``.

    ``size`` is the level-0 (w, h); ``downsamples`` are integer factors starting with 1, each dividing
    the tile size (None: :func:`pyramid_downsamples`). ``mpp=None`` writes a slide without resolution
    metadata (for testing that path). ``workers`` > 1 renders rows in that many forked processes (the
    file is the same byte for byte).
    """
    width, height = size
    factors = [int(d) for d in (downsamples or pyramid_downsamples(size, tile))]
    if factors[0] != 1 or any(tile % d for d in factors) or sorted(factors) != factors:
        msg = f"downsamples must start with 1, increase and divide the tile size {tile}, got {downsamples}"
        raise InputError(msg)
    if width % tile or height % tile:
        msg = f"slide size {size} must be a multiple of the tile size {tile}"
        raise InputError(msg)
    lower = [
        _LowerLevel(factor, size, tile, quality, keep=index == len(factors) - 2)
        for index, factor in enumerate(factors[1:])
    ]

    rows = _RowRenderer(render, width, tile, tuple(factors[1:]), quality)

    def level0_tiles() -> Iterator[bytes]:
        # NOTE: tifffile consumes tiles row-major; a row's reduced tiles go into the lower levels before its
        # tiles are handed over (tifffile stops pulling after the last one), so every lower tile is
        # encoded when tifffile reaches that level.
        for y, encoded, reduced in _rows(rows, height, workers):
            for level, smalls in zip(lower, reduced, strict=True):
                for x, small in zip(range(0, width, tile), smalls, strict=True):
                    level.add(x, y, small)
                level.end_row(y + tile)
            yield from encoded

    description = aperio_description(size, tile, mpp, magnification, quality, Path(path).stem)
    common = {
        "photometric": "rgb",
        "compression": "jpeg",
        "compressionargs": {"level": quality},
        "subfiletype": 0,
        "metadata": None,
    }
    resolution = None if mpp is None else (1e4 / mpp, 1e4 / mpp)
    with atomic_path(path) as tmp, tifffile.TiffWriter(tmp, bigtiff=width * height > 2**31) as tif:
        tif.write(
            level0_tiles(),
            shape=(height, width, 3),
            dtype=np.uint8,
            tile=(tile, tile),
            description=description,
            resolution=resolution,
            resolutionunit="CENTIMETER" if mpp else None,
            **common,
        )
        tif.write(_thumbnail(lower[-1].pixels if lower else None), description="Aperio thumbnail", **common)
        for level in lower:
            tif.write(
                iter(level.tiles),
                shape=(level.height, level.width, 3),
                dtype=np.uint8,
                tile=(tile, tile),
                description=f"Aperio Image Library level downsample {level.factor}",
                **common,
            )
            level.tiles.clear()
    return Path(path)


def _thumbnail(smallest: np.ndarray | None) -> np.ndarray:
    """A small stripped preview page (Aperio files carry one after level 0)."""
    if smallest is None:
        return np.full((64, 64, 3), 255, np.uint8)
    factor = 1
    while max(smallest.shape[:2]) // factor > THUMBNAIL_MAX_SIDE:
        factor *= 2
    return np.asarray(Image.fromarray(smallest).reduce(factor)) if factor > 1 else smallest
