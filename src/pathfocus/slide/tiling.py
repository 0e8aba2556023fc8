"""Tile grids over tissue at a target resolution, and their HDF5 form.

A :class:`TileSpec` turns "256 px at 0.5 um/px" into what is actually read: the pyramid level, the
read size at that level and the level-0 size. Coordinates are level-0 top-left (x, y). The HDF5 layout
follows CLAM / TRIDENT (dataset ``coords`` with ``patch_size``, ``patch_level``, ``patch_size_level0``
attributes) so their tools read our grids and ours theirs.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import h5py
import numpy as np

from pathfocus.errors import InputError, NoTissueError
from pathfocus.fileio import atomic_path
from pathfocus.slide.tissue import TissueConfig, TissueMask, slide_tissue

if TYPE_CHECKING:
    from pathfocus.slide.dataset import TileDataset
    from pathfocus.slide.reader import Slide

H5_FORMAT = "pathfocus-tiles/1"


@dataclass(frozen=True)
class TileSpec:
    """``size`` px at ``mpp``, read as ``read_size`` px at ``level``, covering ``base_size`` level-0 px."""

    mpp: float
    size: int
    level: int
    read_size: int
    base_size: int
    level_downsample: float
    slide_mpp: float

    @classmethod
    def for_slide(cls, slide: Slide, mpp: float, size: int) -> TileSpec:
        if size <= 0:
            msg = f"tile size must be a positive number of pixels, got {size}"
            raise InputError(msg)
        level, read_size, base_size = slide.read_plan((size, size), mpp)
        return cls(
            mpp=float(mpp),
            size=int(size),
            level=level,
            read_size=read_size[0],
            base_size=base_size[0],
            level_downsample=slide.level_downsamples[level],
            slide_mpp=slide.mpp,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class TileGrid:
    """Level-0 top-left (x, y) of every kept tile, with its tissue fraction."""

    coords: np.ndarray  # (N, 2) int64
    tissue_fraction: np.ndarray  # (N,) float32
    spec: TileSpec
    overlap: int
    min_tissue: float
    slide_path: str
    slide_id: str
    level0_dimensions: tuple[int, int]
    magnification: float | None = None

    def __len__(self) -> int:
        return len(self.coords)

    @property
    def base_stride(self) -> int:
        return _base_stride(self.spec, self.overlap)

    def dataset(self, transform: Any = None, slide_mpp: float | None = None) -> TileDataset:
        """A torch Dataset over these tiles (imports torch only when called)."""
        from pathfocus.slide.dataset import TileDataset

        return TileDataset(
            self.slide_path,
            self.coords,
            self.spec.size,
            self.spec.mpp,
            transform=transform,
            slide_mpp=slide_mpp,
        )


def _base_stride(spec: TileSpec, overlap: int) -> int:
    return max(1, round((spec.size - overlap) * spec.mpp / spec.slide_mpp))


def tile_grid(
    slide: Slide,
    mpp: float = 0.5,
    size: int = 256,
    overlap: int = 0,
    min_tissue: float = 0.5,
    tissue: TissueMask | None = None,
) -> TileGrid:
    """Tiles of ``size`` px at ``mpp`` lying wholly inside the slide with >= ``min_tissue`` tissue.

    ``overlap`` is in output pixels. The tissue fraction of a tile is measured on the tissue mask
    (detected on the thumbnail when ``tissue`` is None, raising NoTissueError if there is none).
    """
    if not 0 <= overlap < size:
        msg = f"overlap must lie in [0, size={size}), got {overlap}"
        raise InputError(msg)
    if not 0 <= min_tissue <= 1:
        msg = f"min_tissue is a fraction in [0, 1], got {min_tissue}"
        raise InputError(msg)
    spec = TileSpec.for_slide(slide, mpp, size)
    tissue = tissue if tissue is not None else slide_tissue(slide)
    coords, fraction = tissue_tile_coords(tissue, slide.dimensions, spec.base_size,
                                          _base_stride(spec, overlap), min_tissue)
    return TileGrid(
        coords=coords,
        tissue_fraction=fraction.astype(np.float32),
        spec=spec,
        overlap=int(overlap),
        min_tissue=float(min_tissue),
        slide_path=str(slide.path),
        slide_id=slide.slide_id,
        level0_dimensions=slide.dimensions,
        magnification=slide.magnification,
    )


def tissue_tile_coords(tissue: TissueMask, level0_size: tuple[int, int], base_size: int, base_stride: int,
                       min_tissue: float) -> tuple[np.ndarray, np.ndarray]:
    """Level-0 (x, y) of the grid tiles (origin 0, ``base_stride`` apart, wholly inside the slide) with at
    least ``min_tissue`` tissue (any, when 0), and their tissue fractions: the grid every tile user shares."""
    width, height = level0_size
    xs = np.arange(0, width - base_size + 1, base_stride, dtype=np.int64)
    ys = np.arange(0, height - base_size + 1, base_stride, dtype=np.int64)
    grid_x, grid_y = np.meshgrid(xs, ys)
    coords = np.stack([grid_x.ravel(), grid_y.ravel()], axis=1)
    fraction = tissue_fractions(tissue, coords, base_size)
    keep = fraction >= min_tissue if min_tissue > 0 else fraction > 0
    return coords[keep], fraction[keep]


def tissue_fractions(tissue: TissueMask, coords: np.ndarray, base_size: int) -> np.ndarray:
    """Share of tissue-mask pixels under each level-0 square tile (summed-area table, O(1) per tile)."""
    mask = tissue.mask
    table = np.zeros((mask.shape[0] + 1, mask.shape[1] + 1), np.int64)
    table[1:, 1:] = mask.astype(np.int64).cumsum(0).cumsum(1)
    if len(coords) == 0:
        return np.zeros(0, np.float64)
    scale = tissue.base_per_pixel
    x0 = np.clip(np.round(coords[:, 0] / scale).astype(np.int64), 0, mask.shape[1] - 1)
    y0 = np.clip(np.round(coords[:, 1] / scale).astype(np.int64), 0, mask.shape[0] - 1)
    x1 = np.clip(np.round((coords[:, 0] + base_size) / scale).astype(np.int64), x0 + 1, mask.shape[1])
    y1 = np.clip(np.round((coords[:, 1] + base_size) / scale).astype(np.int64), y0 + 1, mask.shape[0])
    inside = table[y1, x1] - table[y0, x1] - table[y1, x0] + table[y0, x0]
    return inside / ((x1 - x0) * (y1 - y0))


def write_tiles_h5(path: str | os.PathLike[str], grid: TileGrid) -> Path:
    """Write ``grid`` atomically: dataset ``coords`` (N, 2) int64 level-0 (x, y) + ``tissue_fraction``."""
    spec = grid.spec
    attrs: dict[str, Any] = {
        "format": H5_FORMAT,
        "name": grid.slide_id,
        "slide_path": grid.slide_path,
        "mpp": spec.mpp,
        "patch_size": spec.size,
        "patch_level": spec.level,
        "read_size": spec.read_size,
        "patch_size_level0": spec.base_size,
        "downsample": spec.level_downsample,
        "level0_mpp": spec.slide_mpp,
        "level_dim": np.asarray(grid.level0_dimensions, np.int64),
        "overlap": grid.overlap,
        "stride_level0": grid.base_stride,
        "min_tissue": grid.min_tissue,
        "tissue_threshold": grid.min_tissue,  # the name for it: least tissue fraction of a kept tile
        "coord_space": "level0 top-left (x, y)",
    }
    if grid.magnification is not None:
        attrs["level0_magnification"] = grid.magnification
        attrs["target_magnification"] = grid.magnification * spec.slide_mpp / spec.mpp
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as h5:
        coords = h5.create_dataset("coords", data=grid.coords.astype(np.int64).reshape(-1, 2))
        coords.attrs.update(attrs)
        h5.create_dataset("tissue_fraction", data=grid.tissue_fraction.astype(np.float32))
    return Path(path)


def read_tiles_h5(path: str | os.PathLike[str]) -> TileGrid:
    """Read a grid written by :func:`write_tiles_h5`."""
    path = Path(path)
    try:
        with h5py.File(path, "r") as h5:
            coords = np.asarray(h5["coords"][:], np.int64).reshape(-1, 2)
            attrs = dict(h5["coords"].attrs)
            fraction = (
                np.asarray(h5["tissue_fraction"][:], np.float32)
                if "tissue_fraction" in h5
                else np.ones(len(coords), np.float32)
            )
    except (OSError, KeyError) as error:
        msg = f"cannot read tile coordinates from {path} ({error}); write it with `pathfocus slide tile`"
        raise InputError(msg) from None
    missing = [key for key in ("mpp", "patch_size", "patch_size_level0") if key not in attrs]
    if missing:
        msg = f"{path} lacks the coords attributes {missing}; write it with `pathfocus slide tile`"
        raise InputError(msg)
    size, base_size = int(attrs["patch_size"]), int(attrs["patch_size_level0"])
    spec = TileSpec(
        mpp=float(attrs["mpp"]),
        size=size,
        level=int(attrs.get("patch_level", 0)),
        read_size=int(attrs.get("read_size", base_size)),
        base_size=base_size,
        level_downsample=float(attrs.get("downsample", 1.0)),
        slide_mpp=float(attrs.get("level0_mpp", float(attrs["mpp"]) * size / base_size)),
    )
    magnification = attrs.get("level0_magnification")
    dims = attrs.get("level_dim", (0, 0))
    return TileGrid(
        coords=coords,
        tissue_fraction=fraction,
        spec=spec,
        overlap=int(attrs.get("overlap", 0)),
        min_tissue=float(attrs.get("min_tissue", 0.0)),
        slide_path=str(attrs.get("slide_path", "")),
        slide_id=str(attrs.get("name", path.stem)),
        level0_dimensions=(int(dims[0]), int(dims[1])),
        magnification=None if magnification is None else float(magnification),
    )


def tile_slide(
    slide_path: str | os.PathLike[str],
    out: str | os.PathLike[str],
    mpp: float = 0.5,
    size: int = 256,
    overlap: int = 0,
    min_tissue: float = 0.5,
    slide_mpp: float | None = None,
    tissue_config: TissueConfig | None = None,
) -> TileGrid:
    """Open, detect tissue, grid and write ``out`` (.h5); refuses to write a grid without tiles."""
    from pathfocus.slide.reader import open_slide

    with open_slide(slide_path, mpp=slide_mpp) as slide:
        TileSpec.for_slide(slide, mpp, size)  # fail on an impossible mpp before the tissue work
        grid = tile_grid(
            slide,
            mpp=mpp,
            size=size,
            overlap=overlap,
            min_tissue=min_tissue,
            tissue=slide_tissue(slide, tissue_config),
        )
        if len(grid) == 0:
            msg = (
                f"no {size} px tile at {mpp} um/px of {Path(slide_path).name} has at least {min_tissue:.0%} "
                "tissue; lower --min-tissue or --size"
            )
            raise NoTissueError(msg)
        # NOTE: tissue detection reads only the top of the pyramid; reading a few tiles catches a slide
        # whose high-resolution data is truncated before anyone trains on its coordinates.
        for index in sorted({0, len(grid) // 2, len(grid) - 1}):
            x, y = grid.coords[index]
            slide.read_region((int(x), int(y)), (size, size), mpp)
    write_tiles_h5(out, grid)
    return grid


def tiles_match(path: str | os.PathLike[str], mpp: float, size: int, overlap: int, min_tissue: float) -> bool:
    """Whether ``path`` is a complete tile file made with these settings (so a rerun can skip it)."""
    try:
        grid = read_tiles_h5(path)
    except InputError:
        return False
    return (
        np.isclose(grid.spec.mpp, mpp)
        and grid.spec.size == size
        and grid.overlap == overlap
        and np.isclose(grid.min_tissue, min_tissue)
    )


def __getattr__(name: str) -> Any:
    # NOTE: TileDataset subclasses torch's Dataset; importing it lazily keeps `import tiling` torch-free.
    if name == "TileDataset":
        from pathfocus.slide.dataset import TileDataset

        return TileDataset
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)
