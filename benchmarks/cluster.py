"""What `--cluster` costs and gives: slides per second of `analyze` in one process, on a LocalCluster of 1
worker and of 2 workers, and the scheduler's overhead per slide against the local run.

Budget (issue #14): the overhead per slide is at most 5 % of a SEW slide's analysis time. Every variant
runs warm (the analyser already built in each process), so the figures compare steady states; the
cluster's start (spawning workers, building their analysers) is reported on its own. Variants alternate
over ``--rounds`` and medians are reported, so load from other processes hits them alike. Overhead is what a
batch spends outside its slides' own work: wall time minus the per-slide ``seconds`` of status.csv, per
slide, with one worker, minus the same for the local run (which also writes status.csv after each slide).
With two workers the same figure (worker-seconds) also holds the wait for the last slide.

    python benchmarks/cluster.py [--run runs/demo/runs/sew] [--slides runs/demo/slides/slides] [--n 12]
                                 [--rounds 2]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from pathfocus.analysis.batch_job import AnalyzeJob
from pathfocus.slide.batch import expand_slide_paths, run_batch

BUDGET = 0.05  # issue #14: scheduler overhead per slide at most 5 % of a SEW slide's time


def timed_batch(job: AnalyzeJob, slides: list[Path], cluster: str | None) -> tuple[float, pd.DataFrame]:
    """Wall seconds of one batch and its status table (outputs in a fresh folder, so nothing is skipped)."""
    started = time.perf_counter()
    status = run_batch(slides, job, job.is_done, job.out / "status.csv", desc=cluster or "local",
                       cluster=cluster)
    return time.perf_counter() - started, status


def start_cluster(stack: contextlib.ExitStack, job: AnalyzeJob, workers: int) -> tuple[str, float]:
    """Start ``workers`` local workers and build their analysers; their address and the seconds it took."""
    import dask
    from distributed import Client

    from pathfocus.slide.cluster import ALLOWED_FAILURES, local_cluster

    started = time.perf_counter()
    with dask.config.set({"distributed.scheduler.allowed-failures": ALLOWED_FAILURES}):
        cluster = stack.enter_context(local_cluster(workers))
    client = stack.enter_context(Client(cluster))
    client.wait_for_workers(workers)
    client.run(lambda: job.analyzer() and None)  # warm: each worker builds its analyser once
    return cluster.scheduler_address, time.perf_counter() - started


def _figures(wall: float, status: pd.DataFrame, startup: float = 0.0, workers: int = 1) -> dict[str, float]:
    """Throughput and the worker time per slide spent outside the slides' own work (``outside``)."""
    if not (status["status"] == "ok").all():
        msg = f"some slides failed: {status.loc[status['status'] != 'ok', 'reason'].tolist()}"
        raise SystemExit(msg)
    inside = float(status["seconds"].sum())
    return {"wall_s": round(wall, 3), "slides_per_s": round(len(status) / wall, 3),
            "median_slide_s": round(float(status["seconds"].median()), 3), "sum_slide_s": round(inside, 3),
            "outside_per_slide_s": round((wall * workers - inside) / len(status), 4),
            "startup_s": round(startup, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=Path("runs/demo/runs/sew"), help="SEW run folder")
    parser.add_argument("--slides", type=Path, default=Path("runs/demo/slides/slides"))
    parser.add_argument("--n", type=int, default=12, help="slides per batch")
    parser.add_argument("--rounds", type=int, default=2, help="batches per variant (medians reported)")
    parser.add_argument("--out", type=Path, default=None, help="write the figures as JSON here too")
    args = parser.parse_args()
    slides = expand_slide_paths([args.slides])[: args.n]

    rounds: dict[str, list[dict[str, float]]] = {"local": [], "local:1": [], "local:2": []}
    with tempfile.TemporaryDirectory() as scratch, contextlib.ExitStack() as stack:
        root = Path(scratch)
        job = AnalyzeJob(args.run, root, device="cpu")
        job.analyzer()  # warm, as the workers will be
        started = {workers: start_cluster(stack, job, workers) for workers in (1, 2)}
        for repeat in range(args.rounds):  # interleaved, so load from other processes hits all alike
            for name, cluster, workers in (("local", None, 1), ("local:1", started[1][0], 1),
                                           ("local:2", started[2][0], 2)):
                here = AnalyzeJob(args.run, root / f"{name}-{repeat}", device="cpu")
                wall, status = timed_batch(here, slides, cluster)
                startup = started[workers][1] if cluster else 0.0
                rounds[name].append(_figures(wall, status, startup, workers))

    results = {name: {key: round(statistics.median(r[key] for r in runs), 4) for key in runs[0]}
               for name, runs in rounds.items()}
    overhead = statistics.median(ours["outside_per_slide_s"] - local["outside_per_slide_s"]
                                 for ours, local in zip(rounds["local:1"], rounds["local"], strict=True))
    share = overhead / results["local"]["median_slide_s"]
    report = {"command": shlex.join([Path(sys.executable).name, *sys.argv]), "slides": len(slides),
              "rounds": args.rounds,
              "run": str(args.run), "cpus": len(os.sched_getaffinity(0)),
              "load_average": [round(x, 2) for x in os.getloadavg()], "results": results,
              "overhead_per_slide_s": round(overhead, 4), "overhead_share_of_slide": round(share, 4),
              "budget": BUDGET, "pass": share <= BUDGET}
    text = json.dumps(report, indent=2)
    if args.out is not None:
        args.out.write_text(text + "\n", encoding="utf-8")
    sys.stdout.write(text + "\n")


if __name__ == "__main__":
    main()
