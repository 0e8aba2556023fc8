"""The many-slides runner: discovery, per-slide status, continuing past failures, resuming."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from pathfocus.errors import InputError, SlideError
from pathfocus.slide.batch import expand_slide_paths, run_batch


def test_expand_finds_slides_in_folders_once(tmp_path: Path) -> None:
    (tmp_path / "a.svs").touch()
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.TIFF").touch()
    (tmp_path / "notes.txt").touch()
    (tmp_path / ".a.svs.tmp.svs").touch()  # an interrupted atomic write
    (tmp_path / "dicom").mkdir()
    for index in range(3):
        (tmp_path / "dicom" / f"frame{index}.dcm").touch()
    found = expand_slide_paths([tmp_path, tmp_path / "a.svs", tmp_path / "missing.ndpi"])
    names = [p.name for p in found]
    assert names == ["a.svs", "frame0.dcm", "b.TIFF", "missing.ndpi"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no slide files"):
        expand_slide_paths([tmp_path / "empty"])


def test_run_batch_records_failures_and_resumes(tmp_path: Path) -> None:
    slides = [tmp_path / f"s{i}.svs" for i in range(4)]
    done: set[str] = set()
    calls: list[str] = []

    def process(path: Path) -> dict[str, object]:
        calls.append(path.stem)
        if path.stem == "s1":
            msg = f"cannot open slide {path}: truncated"
            raise SlideError(msg)
        if path.stem == "s2":
            raise ZeroDivisionError("division by zero")
        done.add(path.stem)
        return {"n_tiles": int(path.stem[1]) * 10}

    status_path = tmp_path / "out" / "status.csv"
    first = run_batch(slides, process, lambda p: p.stem in done, status_path, desc="test")
    assert list(first["status"]) == ["ok", "failed", "failed", "ok"]
    assert "truncated" in first.loc[1, "reason"] and first.loc[2, "reason"].startswith("ZeroDivisionError")
    on_disk = pd.read_csv(status_path, keep_default_na=False)
    assert list(on_disk["status"]) == ["ok", "failed", "failed", "ok"]
    assert list(on_disk.columns[:5]) == ["slide_id", "path", "status", "reason", "seconds"]

    calls.clear()
    second = run_batch(slides, process, lambda p: p.stem in done, status_path, desc="test")
    assert calls == ["s1", "s2"]  # finished slides are not redone
    assert list(second["status"]) == ["skipped", "failed", "failed", "skipped"]
    assert second.loc[3, "n_tiles"] == 30  # a skipped slide keeps what its earlier run recorded
