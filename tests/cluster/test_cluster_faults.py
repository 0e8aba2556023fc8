"""Faults on a two-worker LocalCluster: a worker killed mid-slide, a slide that keeps killing its worker, a
transient error, a bad slide, a GPU task, and a client stopped mid-batch."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from cluster_test_jobs import FlakyJob, SlowJob

from pathfocus.errors import InputError
from pathfocus.slide.batch import run_batch


def _run(job: FlakyJob, slides: list[Path], address: str, **options: object) -> pd.DataFrame:
    from distributed import Client

    with Client(address) as client:
        client.wait_for_workers(2, timeout=60)  # the nanny restarts a worker an earlier test killed
    return run_batch(slides, job, job.is_done, job.out / "status.csv", desc="test", cluster=address,
                     **options)


def test_worker_killed_mid_slide_is_retried_and_the_batch_finishes(
    tmp_path: Path, slides: list[Path], address: str
) -> None:
    job = FlakyJob(tmp_path, flaky=frozenset({slides[1].stem}))
    status = _run(job, slides, address)
    assert status["status"].tolist() == ["ok"] * len(slides)
    assert status["path"].tolist() == [str(p) for p in slides]  # the order given, not of completion
    assert len((tmp_path / f"{slides[1].stem}.attempts").read_text().splitlines()) == 2
    assert all((tmp_path / f"{p.stem}.json").is_file() for p in slides)


def test_a_slide_that_kills_its_worker_twice_fails_alone(
    tmp_path: Path, slides: list[Path], address: str
) -> None:
    job = FlakyJob(tmp_path, flaky=frozenset({slides[0].stem}), times=5)
    status = _run(job, slides, address).set_index("slide_id")
    assert status.loc[slides[0].stem, "status"] == "failed"
    assert "worker died twice" in status.loc[slides[0].stem, "reason"]
    assert len((tmp_path / f"{slides[0].stem}.attempts").read_text().splitlines()) == 2
    assert (status.drop(slides[0].stem)["status"] == "ok").all()
    assert not (tmp_path / f"{slides[0].stem}.json").exists()


def test_an_unexpected_error_is_retried_once_on_another_worker(
    tmp_path: Path, slides: list[Path], address: str
) -> None:
    job = FlakyJob(tmp_path, flaky=frozenset({slides[2].stem}), kill=False)
    status = _run(job, slides, address).set_index("slide_id")
    assert (status["status"] == "ok").all()
    first, second = (tmp_path / f"{slides[2].stem}.attempts").read_text().splitlines()
    assert first != second == status.loc[slides[2].stem, "worker"]

    again = FlakyJob(tmp_path / "again", flaky=frozenset({slides[2].stem}), kill=False, times=5)
    status = _run(again, slides, address).set_index("slide_id")
    assert status.loc[slides[2].stem, "status"] == "failed"
    assert status.loc[slides[2].stem, "reason"] == "RuntimeError: a transient fault"


def test_a_gpu_task_waits_for_a_gpu_worker(tmp_path: Path, slides: list[Path], address: str) -> None:
    job = FlakyJob(tmp_path)
    with pytest.raises(InputError, match="offers GPU=1"):
        _run(job, slides, address, resources={"GPU": 1})
    # a third worker that says it has a GPU (the resource is a label: nothing here needs a real one)
    dask = str(Path(sys.executable).parent / "dask")
    worker = subprocess.Popen([dask, "worker", address, "--nthreads", "1", "--resources", "GPU=1",
                               "--host", "127.0.0.1", "--no-dashboard", "--no-nanny"],
                              env={**os.environ, "PYTHONPATH": str(Path(__file__).parent)},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        from distributed import Client

        with Client(address) as client:
            client.wait_for_workers(3, timeout=60)
            gpu = [w for w, info in client.scheduler_info()["workers"].items() if info["resources"]]
        status = _run(job, slides, address, resources={"GPU": 1})
        assert set(status["worker"]) == set(gpu)
    finally:
        worker.terminate()
        worker.wait(timeout=30)


STOPPED = """
import signal
import sys
# a job started in the background by a non-interactive shell inherits SIGINT ignored (and Python then
# installs no handler): restore the terminal's Ctrl-C, which is what this test sends
signal.signal(signal.SIGINT, signal.default_int_handler)
sys.path.insert(0, {tests!r})
import cluster_test_jobs
from pathlib import Path
from pathfocus.slide.batch import run_batch
job = cluster_test_jobs.SlowJob(Path({out!r}), {seconds})
slides = [Path(p) for p in {slides!r}]
run_batch(slides, job, job.is_done, job.out / "status.csv", cluster={cluster!r})
"""


def test_stopping_the_client_leaves_no_finished_looking_output(tmp_path: Path, slides: list[Path]) -> None:
    out = tmp_path / "out"
    many = slides * 2  # twelve tasks of half a second each: the client is stopped long before the end
    names = [str(tmp_path / f"s{i:02d}.tiff") for i in range(len(many))]
    for name, slide in zip(names, many, strict=True):
        os.symlink(slide, name)
    script = STOPPED.format(tests=str(Path(__file__).parent), out=str(out), seconds=0.5, slides=names,
                            cluster="local:2")
    client = subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.DEVNULL)
    status_path = out / "status.csv"
    deadline = time.monotonic() + 60
    while not (status_path.is_file() and len(pd.read_csv(status_path)) >= 2) and time.monotonic() < deadline:
        time.sleep(0.1)
    client.send_signal(signal.SIGINT)  # Ctrl-C
    assert client.wait(timeout=60) != 0

    status = pd.read_csv(status_path)
    written = sorted(p.stem for p in out.glob("*.json"))
    assert 2 <= len(status) < len(names)
    assert set(status["slide_id"]) <= set(written)  # every slide said done has its output
    assert all(p.read_text().endswith("}\n") for p in out.glob("*.json"))  # and no output is half-written
    rerun = SlowJob(out, 0.0)  # what was left is a valid start for any run, on a cluster or not
    final = run_batch([Path(name) for name in names], rerun, rerun.is_done, status_path, desc="test")
    assert set(final["status"]) <= {"ok", "skipped"}
    assert (final["status"] == "skipped").sum() == len(written)
