"""Where torch runs and how much of the machine a command takes: device, CPU threads, worker counts.

Every command runs on the CPU and uses a GPU when one is present. Thread and worker counts are options
whose defaults come from the CPUs this process may use (``os.sched_getaffinity``, which honours cgroup
and ``taskset`` limits), never from constants tuned for one machine; runs record what they used.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # NOTE: torch loads lazily so light settings modules can use the worker defaults
    import torch


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """``device`` if given, else the GPU when there is one, else the CPU."""
    import torch

    if device:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def default_loader_workers() -> int:
    """DataLoader worker processes for tile reading: one core left to the encoder, at most four readers."""
    return max(0, min(4, available_cpus() - 1))


def default_read_threads() -> int:
    """Threads that read and prepare a slide's few windows concurrently (SEW analysis)."""
    return max(1, min(4, available_cpus()))


def encoder_threads(workers: int) -> int:
    """Torch threads that leave one core per DataLoader worker reading tiles."""
    cores = available_cpus()
    return max(1, cores - workers) if workers > 0 else cores


@contextlib.contextmanager
def cpu_threads(device: torch.device, threads: int) -> Iterator[None]:
    """On the CPU, run torch on at most ``threads`` threads inside the block (restored after).

    NOTE: measured on busy 2-core machines: two encoder threads beside a tile-reader process ran at half
    the speed of one, and SEW's and the MIL head's tiny steps ran several times slower on two threads
    (OpenMP threads spin when the cores are oversubscribed). No effect on a GPU.
    """
    import torch

    if device.type != "cpu":
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(max(1, min(previous, threads)))
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def machine_summary(device: torch.device | None = None) -> dict[str, object]:
    """What a run or benchmark ran on, for its records."""
    import torch

    device = device or pick_device()
    summary: dict[str, object] = {"device": device.type, "cpus": available_cpus(),
                                  "torch_threads": torch.get_num_threads(), "torch": torch.__version__}
    if device.type == "cuda":
        summary["gpu"] = torch.cuda.get_device_name(device)
    return summary
