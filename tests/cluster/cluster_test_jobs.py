"""Per-slide jobs that misbehave on purpose, for the fault tests.

Workers import this module as the client does: LocalCluster's spawned workers inherit the client's
``sys.path``; an extra ``dask worker`` gets it on ``PYTHONPATH``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from pathfocus.fileio import write_json


def _worker() -> str:
    from distributed import get_worker

    return get_worker().address


@dataclass(frozen=True)
class FlakyJob:
    """Writes ``out/<id>.json``; on ``flaky`` slides it first dies (``kill``) or raises, ``times`` times.

    Attempts are counted in ``out/<id>.attempts`` (one line per attempt, naming the worker), which lives on
    the shared disk, so a retry on another process sees how many came before it.
    """

    out: Path
    flaky: frozenset[str] = frozenset()
    kill: bool = True
    times: int = 1

    def __call__(self, path: Path) -> dict[str, object]:
        attempts = self.out / f"{path.stem}.attempts"
        self.out.mkdir(parents=True, exist_ok=True)
        with attempts.open("a") as handle:
            handle.write(_worker() + "\n")
        if path.stem in self.flaky and len(attempts.read_text().splitlines()) <= self.times:
            if self.kill:
                os._exit(1)  # the worker process dies in the middle of the slide
            msg = "a transient fault"
            raise RuntimeError(msg)
        write_json(self.out / f"{path.stem}.json", {"slide": path.stem, "size": path.stat().st_size})
        return {"worker": _worker()}

    def is_done(self, path: Path) -> bool:
        return (self.out / f"{path.stem}.json").is_file()


@dataclass(frozen=True)
class SlowJob:
    """Writes ``out/<id>.json`` after ``seconds``, atomically, as every real job does."""

    out: Path
    seconds: float

    def __call__(self, path: Path) -> dict[str, object]:
        import time

        time.sleep(self.seconds)
        write_json(self.out / f"{path.stem}.json", {"slide": path.stem})
        return {}

    def is_done(self, path: Path) -> bool:
        return (self.out / f"{path.stem}.json").is_file()
