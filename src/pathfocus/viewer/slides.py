"""The viewer's allow-list: which slide files it may serve, under which opaque ids, and their Deep Zoom tiles.

Only the slide files and folders the viewer was started with are served. Every slide is known to the
browser by an id made here (its sanitised file stem, made unique); the browser never sends a path. A file
found inside a folder is kept only if its resolved path (symlinks followed) stays inside that folder's
resolved path, so a symlink pointing elsewhere is refused and logged. Slides are opened lazily, on the
first request that needs them; one that cannot be opened keeps its one-sentence error for the page.
"""

from __future__ import annotations

import io
import logging
import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

from pathfocus.errors import InputError, MissingMppError, PathfocusError
from pathfocus.slide.batch import is_slide_file

log = logging.getLogger(__name__)

TILE_SIZE = 254  # + 1 px overlap on each side = 256 px tiles, as OpenSlide's own examples serve
TILE_OVERLAP = 1
TILE_FORMATS = {"jpeg": "JPEG", "png": "PNG"}
JPEG_QUALITY = 80
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass
class SlideEntry:
    """One slide the viewer may serve: ``id`` is all the browser sees; ``path`` is resolved."""

    id: str
    path: Path
    root: Path  # the folder (or the file itself) it was allowed by
    error: str | None = None
    _state: dict[str, Any] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def stem(self) -> str:
        """The slide id analyses use (``pathfocus analyze`` names its files by the file stem)."""
        return self.path.stem

    def opened(self) -> dict[str, Any]:
        """Open the slide once (thread-safe): ``{"slide": Slide, "deepzoom": DeepZoomGenerator}``.

        Raises the :class:`PathfocusError` of a slide that cannot be opened (again on every call, with the
        same sentence, which is also kept in ``error``).
        """
        with self._lock:
            if self.error is not None:
                raise _Unopenable(self.error)
            if not self._state:
                try:
                    self._state = _open(self.path)
                except PathfocusError as error:
                    self.error = str(error)
                    log.warning("viewer: %s", self.error)
                    raise _Unopenable(self.error) from None
            return self._state

    def info(self) -> dict[str, Any]:
        """What the side panel shows: size, levels, mpp, magnification, vendor; or the error."""
        try:
            slide = self.opened()["slide"]
        except _Unopenable as error:
            return {"id": self.id, "name": self.name, "error": str(error)}
        try:
            mpp: float | None = slide.mpp
        except MissingMppError:
            mpp = None
        return {"id": self.id, "name": self.name, "error": None, "dimensions": list(slide.dimensions),
                "levels": slide.level_count, "mpp": mpp, "magnification": slide.magnification,
                "vendor": slide.vendor}

    def dzi(self, tile_format: str = "jpeg") -> dict[str, Any]:
        """The Deep Zoom image description OpenSeadragon takes as an inline tile source."""
        deepzoom = self.opened()["deepzoom"]
        width, height = deepzoom.level_dimensions[-1]
        return {"Image": {"xmlns": "http://schemas.microsoft.com/deepzoom/2008",
                          "Url": f"tiles/{self.id}/", "Format": tile_format, "Overlap": str(TILE_OVERLAP),
                          "TileSize": str(TILE_SIZE), "Size": {"Width": str(width), "Height": str(height)}}}

    def tile(self, level: int, col: int, row: int, tile_format: str) -> bytes:
        """One Deep Zoom tile, encoded; raises :class:`TileError` for a tile that cannot be read."""
        deepzoom = self.opened()["deepzoom"]
        if not (0 <= level < deepzoom.level_count):
            msg = f"{self.id} has no Deep Zoom level {level}"
            raise TileNotFound(msg)
        cols, rows = deepzoom.level_tiles[level]
        if not (0 <= col < cols and 0 <= row < rows):
            msg = f"{self.id} has no tile ({col}, {row}) at level {level}"
            raise TileNotFound(msg)
        try:
            image = deepzoom.get_tile(level, (col, row))
        except Exception as error:  # noqa: BLE001 -- OpenSlide, PIL or ctypes: any failure is one bad tile
            # NOTE: after a failed read an OpenSlide handle answers every later read with the same error;
            # forget it so the next request reopens the slide and the other tiles still load. It is not
            # closed here: another thread may be reading through it (it closes when no longer used).
            with self._lock:
                if self._state.get("deepzoom") is deepzoom:
                    self._state = {}
            msg = f"cannot read tile ({col}, {row}) at level {level} of {self.path}: {error}"
            raise TileError(msg) from None
        buffer = io.BytesIO()
        if tile_format == "jpeg":
            image.convert("RGB").save(buffer, "JPEG", quality=JPEG_QUALITY)
        else:
            image.save(buffer, "PNG")
        return buffer.getvalue()

    def close(self) -> None:
        """Close the slide's handles (when the server stops)."""
        with self._lock:
            if self._state:
                self._state["osr"].close()
                self._state["slide"].close()
            self._state = {}


class _Unopenable(PathfocusError):
    """A slide that failed to open (its message is the one sentence the page shows)."""


class TileNotFound(PathfocusError):
    """A tile address outside the slide's Deep Zoom pyramid."""


class TileError(PathfocusError):
    """A tile whose pixels could not be read (truncated or corrupt slide data)."""


class SlideLibrary:
    """The slides given on the command line, by id; nothing else can be looked up."""

    def __init__(self, entries: list[SlideEntry]) -> None:
        self.entries = {entry.id: entry for entry in entries}

    def get(self, slide_id: str) -> SlideEntry | None:
        """The entry of ``slide_id``, or None (also for anything that is not a plain id)."""
        return self.entries.get(slide_id) if isinstance(slide_id, str) else None

    def __iter__(self) -> Iterator[SlideEntry]:
        return iter(self.entries.values())

    def __len__(self) -> int:
        return len(self.entries)

    def close(self) -> None:
        for entry in self.entries.values():
            entry.close()


def build_library(paths: list[str | os.PathLike[str]]) -> SlideLibrary:
    """The allow-list of slide files and folders (searched recursively, symlinks out of them refused)."""
    found: list[tuple[Path, Path]] = []
    for raw in paths:
        given = Path(raw).expanduser()
        if not given.exists():
            msg = f"{given} does not exist; pass slide files or folders that contain them"
            raise InputError(msg)
        root = given.resolve()
        if root.is_file():
            found.append((root, root))
            continue
        kept = [(path, root) for path in _slides_under(root)]
        if not kept:
            msg = f"no slide files found under {given}; check the folder"
            raise InputError(msg)
        found.extend(kept)
    entries: list[SlideEntry] = []
    used: set[str] = set()
    for path, root in dict.fromkeys(found):
        entries.append(SlideEntry(id=_unique_id(path.stem, used), path=path, root=root))
    return SlideLibrary(entries)


def _slides_under(root: Path) -> list[Path]:
    """Slide files under ``root`` whose resolved path stays inside it (symlinked folders not entered)."""
    kept: list[Path] = []
    for folder, dirs, files in os.walk(root, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            candidate = Path(folder) / name
            if not is_slide_file(candidate):
                continue
            resolved = candidate.resolve()
            if not resolved.is_relative_to(root) or not resolved.is_file():
                log.warning("viewer: refusing %s: it points outside %s", candidate, root)
                continue
            kept.append(resolved)
    return list(dict.fromkeys(kept))


def _unique_id(stem: str, used: set[str]) -> str:
    base = _UNSAFE.sub("_", stem).strip("._") or "slide"
    candidate, n = base, 1
    while candidate in used:
        n += 1
        candidate = f"{base}-{n}"
    used.add(candidate)
    return candidate


def _open(path: Path) -> dict[str, Any]:
    """The pathfocus Slide (metadata, one-sentence errors) and an OpenSlide Deep Zoom generator."""
    import openslide
    from openslide.deepzoom import DeepZoomGenerator

    from pathfocus.slide.reader import open_slide

    slide = open_slide(path)
    osr = openslide.OpenSlide(path)
    deepzoom = DeepZoomGenerator(osr, tile_size=TILE_SIZE, overlap=TILE_OVERLAP, limit_bounds=False)
    return {"slide": slide, "osr": osr, "deepzoom": deepzoom}


def error_tile(tile_format: str = "png", size: int = TILE_SIZE + 2 * TILE_OVERLAP) -> bytes:
    """A grey tile with a red cross: what the browser shows where a tile could not be read."""
    image = Image.new("RGB", (size, size), (200, 200, 200))
    draw = ImageDraw.Draw(image)
    draw.line((0, 0, size, size), fill=(200, 30, 30), width=4)
    draw.line((0, size, size, 0), fill=(200, 30, 30), width=4)
    buffer = io.BytesIO()
    image.save(buffer, TILE_FORMATS.get(tile_format, "PNG"))
    return buffer.getvalue()
