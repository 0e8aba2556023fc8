"""The CSV training log (``RUN/logs/metrics.csv``), kept across ``--resume``.

Lightning's CSVLogger deletes an existing ``metrics.csv`` when it starts, so a resumed run used to lose the
history of the epochs before the restart (and the report its curves). :class:`ResumableCSVLogger` keeps
the rows of the epochs the checkpoint covers and appends to them; a fresh run starts a fresh log.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from lightning.fabric.loggers.csv_logs import _ExperimentWriter
from lightning.pytorch.loggers import CSVLogger

LOG_DIR = "logs"
LOG_FILE = "metrics.csv"


class _KeepingWriter(_ExperimentWriter):
    """An experiment writer that appends to the rows it was given instead of deleting the file."""

    def __init__(self, log_dir: str, kept: list[dict[str, Any]]) -> None:
        self._kept = kept
        super().__init__(log_dir)

    def _check_log_dir_exists(self) -> None:
        path = Path(self.metrics_file_path)
        if path.is_file():
            path.unlink()
        if self._kept:
            self.metrics_keys = sorted({key for row in self._kept for key in row})
            with open(path, "w", newline="") as file:
                writer = csv.DictWriter(file, fieldnames=self.metrics_keys)
                writer.writeheader()
                writer.writerows(self._kept)


class ResumableCSVLogger(CSVLogger):
    """``CSVLogger`` into ``RUN/logs/metrics.csv`` that keeps the rows of epochs before ``resume_epoch``."""

    def __init__(self, run_dir: Path, resume_epoch: int | None = None) -> None:
        super().__init__(run_dir, name=LOG_DIR, version="")
        self._kept = previous_rows(Path(self.log_dir) / LOG_FILE, resume_epoch)

    @property
    def experiment(self) -> _ExperimentWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _KeepingWriter(log_dir=self.log_dir, kept=self._kept)
        return self._experiment


def previous_rows(path: Path, resume_epoch: int | None) -> list[dict[str, Any]]:
    """Rows of an earlier log whose epoch comes before ``resume_epoch`` (none for a fresh run)."""
    if resume_epoch is None or not path.is_file():
        return []
    with open(path, newline="") as file:
        rows = list(csv.DictReader(file))
    return [row for row in rows if row.get("epoch") not in (None, "") and float(row["epoch"]) < resume_epoch]
