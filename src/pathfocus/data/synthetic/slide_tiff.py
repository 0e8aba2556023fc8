"""Write pyramidal, tiled-JPEG TIFFs that OpenSlide opens as Aperio slides (with mpp and magnification).

Level 0 is rendered tile by tile from a callback, so a large slide never sits in memory; the lower
levels are box-averaged from the level-0 tiles as they stream past (as a scanner's pyramid is).
Layout (what OpenSlide's Aperio driver expects, see FACTS.md): first page description
``Aperio Image Library ...|AppMag = M|MPP = m``, level 0 tiled, then a stripped thumbnail page, then the
lower levels tiled, all with ``subfiletype=0``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import tifffile
from PIL import Image

from pathfocus.errors import InputError
from pathfocus.fileio import atomic_path

# (x, y, w, h) in level-0 pixels -> HxWx3 uint8
TileRenderer = Callable[[int, int, int, int], np.ndarray]

THUMBNAIL_MAX_SIDE = 1024


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


def write_aperio_tiff(
    path: str | os.PathLike[str],
    render: TileRenderer,
    size: tuple[int, int],
    mpp: float | None = 0.5,
    magnification: float | None = 20.0,
    downsamples: Sequence[int] = (1, 4, 16),
    tile: int = 256,
    quality: int = 85,
) -> Path:
    """Render level 0 with ``render`` tile by tile and write the pyramid atomically to ``path``.

    ``size`` is the level-0 (w, h); ``downsamples`` are integer factors starting with 1, each dividing
    the tile size. ``mpp=None`` writes a slide without resolution metadata (for testing that path).
    """
    width, height = size
    factors = [int(d) for d in downsamples]
    if factors[0] != 1 or any(tile % d for d in factors) or sorted(factors) != factors:
        msg = f"downsamples must start with 1, increase and divide the tile size {tile}, got {downsamples}"
        raise InputError(msg)
    if width % tile or height % tile:
        msg = f"slide size {size} must be a multiple of the tile size {tile}"
        raise InputError(msg)

    lower = [np.zeros((height // d, width // d, 3), np.uint8) for d in factors[1:]]

    def level0_tiles() -> Iterator[np.ndarray]:
        # NOTE: tifffile consumes tiles row-major; each level-0 tile is also block-averaged into the lower
        # levels here, so they are complete when tifffile reaches them.
        for y in range(0, height, tile):
            for x in range(0, width, tile):
                pixels = np.ascontiguousarray(render(x, y, tile, tile), dtype=np.uint8)
                image = Image.fromarray(pixels)
                for level, factor in zip(lower, factors[1:], strict=True):
                    small = np.asarray(image.reduce(factor))
                    level[y // factor : (y + tile) // factor, x // factor : (x + tile) // factor] = small
                yield pixels

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
        tif.write(_thumbnail(lower[-1] if lower else None), description="Aperio thumbnail", **common)
        for level, factor in zip(lower, factors[1:], strict=True):
            tif.write(
                level,
                tile=(tile, tile),
                description=f"Aperio Image Library level downsample {factor}",
                **common,
            )
    return Path(path)


def _thumbnail(smallest: np.ndarray | None) -> np.ndarray:
    """A small stripped preview page (Aperio files carry one after level 0)."""
    if smallest is None:
        return np.full((64, 64, 3), 255, np.uint8)
    factor = 1
    while max(smallest.shape[:2]) // factor > THUMBNAIL_MAX_SIDE:
        factor *= 2
    return np.asarray(Image.fromarray(smallest).reduce(factor)) if factor > 1 else smallest
