"""Slides as Dask tasks: one per slide, each result yielded as the scheduler reports its task done.

A task whose worker dies is rescheduled by the scheduler once (``ALLOWED_FAILURES``), then reported as
lost for that slide. A task that fails with an unexpected error (not a :class:`PathfocusError`, which
names a bad input and would fail again) is resubmitted once, on another worker while one is alive.
Everything that decides a result runs on the worker, in the same code a local run uses, so both give the
same; the caller turns results into rows, files or a table.
"""

from __future__ import annotations

import itertools
import logging
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

from pathfocus.slide.cluster import ClusterSpec, connect

log = logging.getLogger(__name__)

R = TypeVar("R")


def cluster_results(spec: ClusterSpec, paths: Iterable[Path], attempt: Callable[[Path], tuple[R, bool]],
                    lost: Callable[[Path, str], R],
                    resources: Mapping[str, float] | None = None) -> Iterator[tuple[int, R]]:
    """``(index in paths, result)`` of every slide, in the order their tasks finish.

    ``attempt(path)`` runs on a worker and returns the slide's result and whether an unexpected error made
    it fail (worth one more try elsewhere); ``lost(path, reason)`` is the result of a slide whose task
    never came back. ``paths`` is consumed lazily, a slide when a worker thread is free for it.
    """
    from distributed import as_completed

    with connect(spec, resources) as client:
        batch = uuid.uuid4().hex[:8]
        pending: dict[Any, tuple[int, Path, int]] = {}  # future -> (index, path, attempt number)
        waiting = enumerate(paths)
        finished = as_completed()

        def submit(index: int, path: Path, number: int, avoid: str = "") -> None:
            others = [w for w in client.scheduler_info()["workers"] if w != avoid] if avoid else []
            future = client.submit(_on_worker, attempt, path, key=f"slide-{batch}-{index}-{number}",
                                   resources=dict(resources) if resources else None, workers=others or None,
                                   allow_other_workers=bool(others), pure=False)
            pending[future] = (index, path, number)
            finished.add(future)

        def fill() -> None:
            # NOTE: no more tasks out than the workers have threads: a task queued on a worker that dies
            # counts as lost with it, so eager queuing would fail a good slide behind a bad one.
            room = max(1, sum(client.nthreads().values())) - len(pending)
            for index, path in itertools.islice(waiting, max(0, room)):
                submit(index, path, 1)

        fill()
        for future in finished:
            index, path, number = pending.pop(future)
            result, worker, retry = _outcome(future, path, lost)
            future.release()
            if retry and number == 1:
                log.warning("%s failed unexpectedly on %s; retrying it once elsewhere", path.name, worker)
                submit(index, path, 2, avoid=worker)
            else:
                yield index, result
            fill()


def _on_worker(attempt: Callable[[Path], tuple[R, bool]], path: Path) -> tuple[R, str, bool]:
    """Run one slide's attempt where the task landed; say which worker it was."""
    from distributed import get_worker

    result, unexpected = attempt(path)
    return result, get_worker().address, unexpected


def _outcome(future: Any, path: Path, lost: Callable[[Path, str], R]) -> tuple[R, str, bool]:
    """The worker's result, or ``lost``'s when the task itself was lost (its workers died)."""
    from distributed import KilledWorker

    try:
        return future.result()
    except KilledWorker:
        reason = "its worker died twice while processing it (out of memory or killed?)"
    except Exception as error:  # noqa: BLE001 -- e.g. a result that cannot be unpickled: this slide only
        reason = f"{type(error).__name__}: {error}"
    return lost(path, reason), "", False
