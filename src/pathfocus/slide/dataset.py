"""A torch Dataset of slide tiles read on demand through :class:`~pathfocus.slide.reader.Slide`.

The slide is opened once in the parent (to fail early on a bad file) and pickled without its OpenSlide
handle, so each DataLoader worker reopens its own (OpenSlide handles are not shareable across processes).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from pathfocus.errors import InputError
from pathfocus.slide.reader import Slide


class TileDataset(Dataset):
    """Tiles of ``size`` px at ``mpp`` whose level-0 top-left corners are ``coords`` (N, 2) (x, y).

    Items are ``(image, coord)``: without ``transform`` the image is a CxHxW uint8 tensor; with one, the
    transform receives a PIL RGB image (the input torchvision and timm transforms expect). With
    ``count_reads`` a third element gives the pixels the read took (counted by this process's reader).
    """

    def __init__(
        self,
        slide_path: str | os.PathLike[str] | Slide,
        coords: np.ndarray,
        size: int,
        mpp: float,
        transform: Callable[[Image.Image], Any] | None = None,
        slide_mpp: float | None = None,
        count_reads: bool = False,
    ) -> None:
        self.slide = slide_path if isinstance(slide_path, Slide) else Slide(slide_path, mpp=slide_mpp)
        self.coords = np.asarray(coords, dtype=np.int64).reshape(-1, 2)
        self.size = int(size)
        self.mpp = float(mpp)
        self.transform = transform
        self.count_reads = count_reads
        if self.size <= 0:
            msg = f"tile size must be positive, got {size}"
            raise InputError(msg)
        self.slide.read_plan((self.size, self.size), self.mpp)  # fail now on an impossible mpp
        # NOTE: plain ints and one coords tensor: per-item numpy/torch conversions showed up in the
        # tile-read benchmark at a few % of a 256 px read
        self._xy: list[list[int]] = self.coords.tolist()
        self._coords_tensor = torch.from_numpy(self.coords)

    def __len__(self) -> int:
        return len(self.coords)

    def __getitem__(self, index: int) -> tuple[Any, ...]:
        x, y = self._xy[index]
        before = self.slide.reads.pixels
        pixels = self.slide.read_region((x, y), (self.size, self.size), self.mpp)
        coord = self._coords_tensor[index]
        image = (self.transform(Image.fromarray(pixels)) if self.transform is not None
                 else torch.from_numpy(pixels).permute(2, 0, 1))
        if self.count_reads:  # what this worker's reader read, so the parent can add it up
            return image, coord, self.slide.reads.pixels - before
        return image, coord
