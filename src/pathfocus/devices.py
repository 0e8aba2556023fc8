"""Where torch runs: the device a command uses and how many CPU threads it may take.

Every command runs on the CPU and uses a GPU when one is present; the thread cap exists because on a
busy 2-core machine two intra-op threads that spin waiting for each other make small ops 5-50x slower.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """``device`` if given, else the GPU when there is one, else the CPU."""
    if device:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@contextlib.contextmanager
def cpu_threads(device: torch.device, threads: int) -> Iterator[None]:
    """On the CPU, run torch on at most ``threads`` threads inside the block (restored after).

    NOTE: measured on the busy 2-core machines: two encoder threads beside a tile-reader process ran at
    half the speed of one, and SEW's and the MIL head's tiny steps ran several times slower on two threads
    (OpenMP threads spin when the cores are oversubscribed). No effect on a GPU.
    """
    if device.type != "cpu":
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(max(1, min(previous, threads)))
    try:
        yield
    finally:
        torch.set_num_threads(previous)
