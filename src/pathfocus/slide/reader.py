"""The one front door to whole-slide images: levels, resolution (mpp) and reads at a requested mpp.

Every location is level-0 pixels ``(x, y)``; every resolution is microns per pixel. ``read_region`` picks
the pyramid level closest to (but not coarser than) the requested mpp and only ever resizes downwards,
so a tile at 0.5 um/px is the same pixels whichever scanner made the slide. The OpenSlide handle is
opened lazily per process: a :class:`Slide` pickles without it, so DataLoader workers each get their own.
"""

from __future__ import annotations

import logging
import math
import os
import threading
from ctypes import POINTER, c_uint32
from pathlib import Path
from typing import Any

import numpy as np
import openslide
from openslide import lowlevel
from PIL import Image

from pathfocus.errors import InputError, MissingMppError, SlideError

log = logging.getLogger(__name__)

# NOTE: scanners round their mpp (0.2520 vs 0.25); a level within 1 % of the requested resolution is
# read as is instead of being resampled by a hair.
MPP_TOLERANCE = 0.01
_FAST_READ = hasattr(lowlevel, "_read_region") and hasattr(lowlevel, "_convert")
# Formats whose pyramid levels are fully tiled: a read inside the slide is never transparent.
DENSE_VENDORS = frozenset({"aperio", "generic-tiff", "hamamatsu"})
# A thumbnail whose read at its level would exceed this many pixels (64 MiB of RGBA) is read in strips.
STRIP_READ_PIXELS = 1 << 24


class ReadLog:
    """Pixels a :class:`Slide` has read from its pyramid, per level, counted where the reads happen.

    Analyses report what they read from this log (never from ``k x window^2`` arithmetic), so a change that
    makes them read more than they say is caught. Thread-safe: SEW reads its windows on threads.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pixels: dict[int, int] = {}
        self._reads = 0

    def add(self, level: int, pixels: int) -> None:
        with self._lock:
            self._pixels[level] = self._pixels.get(level, 0) + int(pixels)
            self._reads += 1

    @property
    def pixels(self) -> int:
        """Pixels read so far at all levels (each read counted at the level and size it was read)."""
        with self._lock:
            return sum(self._pixels.values())

    @property
    def reads(self) -> int:
        """``read_region`` calls that reached OpenSlide."""
        return self._reads

    def by_level(self) -> dict[int, int]:
        with self._lock:
            return dict(self._pixels)

    def __getstate__(self) -> dict[str, Any]:
        return {"_pixels": dict(self._pixels), "_reads": self._reads}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__()
        self._pixels, self._reads = state["_pixels"], state["_reads"]


def open_slide(path: str | os.PathLike[str] | Slide, mpp: float | None = None) -> Slide:
    """Open a whole-slide image; ``mpp`` overrides (or supplies) the level-0 microns per pixel.

    An already opened :class:`Slide` is reopened as a new one with its own mpp override (unless ``mpp``
    is given), so code that takes a path also takes a slide whose mpp the user supplied.
    """
    if isinstance(path, Slide):
        return Slide(path.path, mpp=mpp if mpp is not None else path.mpp_override)
    return Slide(path, mpp=mpp)


class Slide:
    """A whole-slide image read through OpenSlide, with resolution-aware reads."""

    def __init__(self, path: str | os.PathLike[str], mpp: float | None = None) -> None:
        self.path = Path(path)
        if mpp is not None and not (math.isfinite(mpp) and mpp > 0):
            msg = f"slide mpp must be a positive number of microns per pixel, got {mpp}; e.g. 0.25 for 40x"
            raise InputError(msg)
        self._mpp_override = mpp
        self.reads = ReadLog()
        self._osr: openslide.OpenSlide | None = None
        self._pid = -1
        osr = self._handle()
        self.dimensions: tuple[int, int] = tuple(osr.dimensions)
        self.level_count: int = osr.level_count
        self.level_dimensions: tuple[tuple[int, int], ...] = tuple(tuple(d) for d in osr.level_dimensions)
        self.level_downsamples: tuple[float, ...] = tuple(float(d) for d in osr.level_downsamples)
        self.properties: dict[str, str] = dict(osr.properties)
        self.metadata_mpp = self._parse_mpp()
        self._dense = self.vendor in DENSE_VENDORS and not any(
            k.startswith("openslide.bounds-") for k in self.properties
        )

    # -- handle management ------------------------------------------------------------------------------
    def _handle(self) -> openslide.OpenSlide:
        """The OpenSlide handle of this process (reopened after a fork or unpickling)."""
        if self._osr is None or self._pid != os.getpid():
            self._osr = _open_openslide(self.path)
            self._pid = os.getpid()
        return self._osr

    def close(self) -> None:
        """Release the OpenSlide handle (it is reopened on the next read)."""
        if self._osr is not None and self._pid == os.getpid():
            self._osr.close()
        self._osr = None

    def __enter__(self) -> Slide:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_osr"] = None
        state["_pid"] = -1
        return state

    def __repr__(self) -> str:
        w, h = self.dimensions
        return f"Slide({self.path.name!r}, {w}x{h}, levels={self.level_count}, vendor={self.vendor!r})"

    # -- metadata ---------------------------------------------------------------------------------------
    @property
    def slide_id(self) -> str:
        return self.path.stem

    @property
    def mpp_override(self) -> float | None:
        """The level-0 mpp the user supplied (None: the metadata's is used)."""
        return self._mpp_override

    @property
    def vendor(self) -> str | None:
        return self.properties.get(openslide.PROPERTY_NAME_VENDOR)

    @property
    def magnification(self) -> float | None:
        """Objective power of level 0 (e.g. 20.0) when the metadata has it."""
        return _float_or_none(self.properties.get(openslide.PROPERTY_NAME_OBJECTIVE_POWER))

    def _parse_mpp(self) -> float | None:
        """Level-0 microns per pixel as written by the scanner, if at all."""
        mpp_x = _float_or_none(self.properties.get(openslide.PROPERTY_NAME_MPP_X))
        mpp_y = _float_or_none(self.properties.get(openslide.PROPERTY_NAME_MPP_Y))
        if mpp_x is not None and mpp_y is not None and abs(mpp_x - mpp_y) > MPP_TOLERANCE * mpp_x:
            log.warning("%s has non-square pixels (%.4g x %.4g um); using x", self.path.name, mpp_x, mpp_y)
        return mpp_x if mpp_x and mpp_x > 0 else None

    @property
    def mpp(self) -> float:
        """Level-0 microns per pixel: the user's override, else the metadata (never guessed)."""
        if self._mpp_override is not None:
            return self._mpp_override
        mpp = self.metadata_mpp
        if mpp is None:
            msg = (
                f"{self.path} has no microns-per-pixel (mpp) in its metadata; pass the scanner's "
                "resolution with --slide-mpp (e.g. 0.25 for 40x, 0.5 for 20x) or mpp= in Python"
            )
            raise MissingMppError(msg)
        return mpp

    def level_mpp(self, level: int) -> float:
        """Microns per pixel of pyramid ``level``."""
        return self.mpp * self.level_downsamples[level]

    def level_for_mpp(self, mpp: float) -> int:
        """The coarsest level whose mpp is not coarser than ``mpp`` (so reads only resize downwards)."""
        factor = self._factor(mpp)
        best = 0
        for level, downsample in enumerate(self.level_downsamples):
            if downsample <= factor * (1 + MPP_TOLERANCE):
                best = level
        return best

    def info(self) -> dict[str, Any]:
        """The slide's metadata as JSON-ready values (mpp is None when unknown)."""
        try:
            mpp: float | None = self.mpp
        except MissingMppError:
            mpp = None
        return {
            "path": str(self.path),
            "slide_id": self.slide_id,
            "dimensions": list(self.dimensions),
            "level_count": self.level_count,
            "level_dimensions": [list(d) for d in self.level_dimensions],
            "level_downsamples": list(self.level_downsamples),
            "mpp": mpp,
            "magnification": self.magnification,
            "vendor": self.vendor,
        }

    # -- reading ----------------------------------------------------------------------------------------
    def _factor(self, mpp: float) -> float:
        """Level-0 pixels per output pixel at ``mpp``; refuses anything that would need up-sampling."""
        if not (math.isfinite(mpp) and mpp > 0):
            msg = f"requested mpp must be a positive number of microns per pixel, got {mpp}"
            raise InputError(msg)
        factor = mpp / self.mpp
        if factor < 1 - MPP_TOLERANCE:
            msg = (
                f"{mpp} um/px is finer than level 0 of {self.path.name} ({self.mpp:.4g} um/px) and would "
                f"need up-sampling; request mpp >= {self.mpp:.4g}"
            )
            raise InputError(msg)
        return max(factor, 1.0)

    def read_plan(self, size: tuple[int, int], mpp: float) -> tuple[int, tuple[int, int], tuple[int, int]]:
        """``(level, read_size, base_size)`` for an output of ``size`` (w, h) pixels at ``mpp``."""
        factor = self._factor(mpp)
        level = self.level_for_mpp(mpp)
        scale = factor / self.level_downsamples[level]
        if abs(scale - 1) <= MPP_TOLERANCE:
            scale = 1.0
        read_size = (max(size[0], round(size[0] * scale)), max(size[1], round(size[1] * scale)))
        base_size = (round(size[0] * factor), round(size[1] * factor))
        return level, read_size, base_size

    def read_region(self, base_xy: tuple[int, int], size: tuple[int, int], mpp: float) -> np.ndarray:
        """Read ``size`` (w, h) output pixels at ``mpp`` whose top-left is level-0 ``base_xy`` (x, y).

        Returns an HxWx3 uint8 RGB array (writable; for speed it may be a strided view of an RGBA buffer,
        use ``np.ascontiguousarray`` where contiguity matters). Pixels outside the slide are white.
        """
        out_w, out_h = int(size[0]), int(size[1])
        if out_w <= 0 or out_h <= 0:
            msg = f"read size must be positive (w, h), got {size}"
            raise InputError(msg)
        level, read_size, _ = self.read_plan((out_w, out_h), mpp)
        rgb = self._read_level(level, (int(base_xy[0]), int(base_xy[1])), read_size)
        if read_size != (out_w, out_h):
            rgb = np.array(Image.fromarray(rgb).resize((out_w, out_h), Image.Resampling.BOX))
        return rgb

    def _read_level(self, level: int, base_xy: tuple[int, int], read_size: tuple[int, int]) -> np.ndarray:
        """Read at ``level``; transparent pixels (outside the slide, gaps of sparse slides) become white.

        Returns a writable HxWx3 view of the RGBA read (a per-channel copy alone would cost about a fifth
        of a 256 px read, see benchmarks/tile_read.py).
        """
        try:
            rgba = _read_rgba(self._handle(), base_xy, level, read_size)
        except openslide.OpenSlideError as error:
            self.close()
            msg = (
                f"cannot read {self.path}: the {read_size[0]} x {read_size[1]} px region at level-0 (x, y) "
                f"{base_xy} (pyramid level {level}) is unreadable ({error}); the file is probably truncated "
                "or corrupt, copy or export it again"
            )
            raise SlideError(msg) from None
        self.reads.add(level, read_size[0] * read_size[1])
        if self._surely_opaque(level, base_xy, read_size):
            return rgba[..., :3]
        alpha = rgba[..., 3]
        if alpha.min() == 255:
            return rgba[..., :3]
        weight = alpha[..., None].astype(np.float32) / 255.0
        return (rgba[..., :3] * weight + 255.0 * (1.0 - weight) + 0.5).astype(np.uint8)

    def _surely_opaque(self, level: int, base_xy: tuple[int, int], read_size: tuple[int, int]) -> bool:
        """A read inside a dense (not sparse) slide has no transparent pixels, so the check can be skipped."""
        if not self._dense:
            return False
        downsample = self.level_downsamples[level]
        level_width, level_height = self.level_dimensions[level]
        x, y = base_xy[0] / downsample, base_xy[1] / downsample
        return x >= 0 and y >= 0 and x + read_size[0] <= level_width and y + read_size[1] <= level_height

    def thumbnail(self, mpp: float) -> np.ndarray:
        """The whole slide at ``mpp``, read from the coarsest level not coarser than it (never level 0 when a
        lower level will do).

        When that level is much finer than ``mpp`` (a single-level TIFF, a pyramid with a gap), it is read
        in strips of at most :data:`STRIP_READ_PIXELS` pixels, each shrunk before the next is read, so
        memory stays near the thumbnail's size instead of the level's.
        """
        factor = self._factor(mpp)
        width, height = self.dimensions
        size = (max(1, round(width / factor)), max(1, round(height / factor)))
        _, read_size, _ = self.read_plan(size, mpp)
        if read_size[0] * read_size[1] <= STRIP_READ_PIXELS:
            return self.read_region((0, 0), size, mpp)
        out = np.empty((size[1], size[0], 3), np.uint8)
        rows = max(1, STRIP_READ_PIXELS * size[1] // (read_size[0] * read_size[1]))  # output rows a strip
        for top in range(0, size[1], rows):
            strip = self.read_region((0, round(top * factor)), (size[0], min(rows, size[1] - top)), mpp)
            out[top : top + strip.shape[0]] = strip
        return out


def _read_rgba(
    handle: openslide.OpenSlide, base_xy: tuple[int, int], level: int, size: tuple[int, int]
) -> np.ndarray:
    """OpenSlide's region as a writable HxWx4 RGBA array (not premultiplied, like its read_region).

    NOTE: reads straight into a numpy buffer with the two calls ``OpenSlide.read_region`` makes itself
    (openslide-python's ctypes layer), instead of copying the PIL image it returns: that copy costs about
    10 % of a 256 px read, the budget for the whole reader. They exist in openslide-python 1.3.0-1.4.7, the
    versions pyproject.toml allows; where they are missing the public API is used (tested to agree).
    """
    width, height = size
    if _FAST_READ and width > 0 and height > 0:
        buffer = np.empty((height, width), np.uint32)
        lowlevel._read_region(handle._osr, buffer.ctypes.data_as(POINTER(c_uint32)), *base_xy, level, *size)
        lowlevel._convert.argb2rgba(buffer)
        return buffer.view(np.uint8).reshape(height, width, 4)
    return np.array(handle.read_region(base_xy, level, size))


def _open_openslide(path: Path) -> openslide.OpenSlide:
    """Open ``path`` with OpenSlide, turning its failures into one actionable sentence."""
    if not path.exists():
        msg = f"slide file {path} does not exist; check the path"
        raise SlideError(msg)
    if path.is_dir():
        msg = f"{path} is a folder, not a slide file; pass the slide file itself (e.g. the .svs or .mrxs)"
        raise SlideError(msg)
    try:
        return openslide.OpenSlide(path)
    except openslide.OpenSlideUnsupportedFormatError:
        msg = (
            f"{path} is not a slide OpenSlide can read (unsupported format, or a truncated or corrupt file); "
            "check that the copy is complete and that it is a whole-slide image (SVS, NDPI, MRXS, TIFF, ...)"
        )
        raise SlideError(msg) from None
    except (openslide.OpenSlideError, OSError) as error:
        msg = f"cannot open slide {path}: {error}; the file is probably truncated or corrupt, copy it again"
        raise SlideError(msg) from None


def _float_or_none(value: str | None) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except ValueError:
        return None
