"""Where a batch's slides run: a Dask cluster named by one ``--cluster`` string.

``local:N`` starts N worker processes on this machine (listening on 127.0.0.1 only), ``tcp://HOST:PORT``
joins a scheduler someone started (``dask scheduler`` / ``dask worker``), and ``slurm:CONFIG.yaml`` (also
``pbs:`` and ``sge:``) asks dask-jobqueue for workers from the batch queue, configured by a YAML file of the
cluster class's keyword arguments plus ``jobs`` (how many jobs to start). Dask is an optional dependency
(``pip install 'pathfocus[cluster]'``), imported only here and only when a cluster is asked for.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pathfocus.errors import InputError, PathfocusError

if TYPE_CHECKING:
    from distributed import Client, SpecCluster

log = logging.getLogger(__name__)

JOBQUEUE_KINDS = {"slurm": "SLURMCluster", "pbs": "PBSCluster", "sge": "SGECluster"}
# NOTE: a task whose worker dies is rescheduled once (on a live worker) and then reported as failed;
# Dask's default (3) would run a slide that kills its workers four times.
ALLOWED_FAILURES = 1
GPU = "GPU"  # the worker resource a GPU task asks for (dask worker --resources GPU=1)


@dataclass(frozen=True)
class ClusterSpec:
    """A parsed ``--cluster`` value: ``kind`` is local, address or a dask-jobqueue kind (slurm, pbs, sge)."""

    kind: str
    workers: int = 0
    address: str = ""
    config: Path | None = None


def parse_cluster(text: str) -> ClusterSpec:
    """``local:N``, ``tcp://HOST:PORT`` or ``slurm|pbs|sge:CONFIG.yaml`` as a :class:`ClusterSpec`."""
    kind, _, rest = text.partition(":")
    if kind == "local":
        if not rest.isdigit() or int(rest) < 1:
            msg = f"--cluster {text!r}: local needs a number of workers ≥ 1, e.g. local:2"
            raise InputError(msg)
        return ClusterSpec("local", workers=int(rest))
    if kind in ("tcp", "tls") and rest.startswith("//") and ":" in rest[2:]:
        return ClusterSpec("address", address=text)
    if kind in JOBQUEUE_KINDS:
        config = Path(rest)
        if not config.is_file():
            msg = f"--cluster {text!r}: no such config file {config}; see docs/cluster.md for an example"
            raise InputError(msg)
        return ClusterSpec(kind, config=config)
    msg = f"--cluster {text!r} is not local:N, tcp://HOST:PORT or slurm:|pbs:|sge:CONFIG.yaml"
    raise InputError(msg)


def task_resources(device: str | None) -> dict[str, float] | None:
    """What one slide's task needs from its worker: a GPU when the device names one, else nothing."""
    return {GPU: 1} if device is not None and device.startswith("cuda") else None


@contextlib.contextmanager
def connect(spec: ClusterSpec, resources: Mapping[str, float] | None = None) -> Iterator[Client]:
    """A client of the cluster ``spec`` names, closed (with any cluster started here) on exit.

    Checks that some worker offers ``resources`` (a GPU task would otherwise wait forever for one).
    """
    distributed = _import_distributed()
    import dask

    logging.getLogger("distributed").setLevel(logging.WARNING)  # worker chatter; warnings still show
    settings = {"distributed.scheduler.allowed-failures": ALLOWED_FAILURES}
    with dask.config.set(settings), contextlib.ExitStack() as stack:
        if spec.kind == "address":
            try:
                client = stack.enter_context(distributed.Client(spec.address, timeout="20s"))
            except OSError as error:
                msg = f"cannot reach the Dask scheduler at {spec.address} ({error}); is it running?"
                raise PathfocusError(msg) from None
        else:
            cluster = stack.enter_context(_start_cluster(spec, resources))
            client = stack.enter_context(distributed.Client(cluster))
        if resources and spec.kind in ("local", "address"):
            _check_resources(client, resources, spec)
        yield client


def _start_cluster(spec: ClusterSpec, resources: Mapping[str, float] | None) -> SpecCluster:
    if spec.kind == "local":
        return local_cluster(spec.workers, resources)
    cluster, jobs = jobqueue_cluster(spec)
    cluster.scale(jobs=jobs)
    return cluster


def local_cluster(workers: int, resources: Mapping[str, float] | None = None) -> SpecCluster:
    """``workers`` single-threaded worker processes on 127.0.0.1, sharing this machine's CPUs for torch."""
    import dask
    from distributed import LocalCluster

    if resources and GPU in resources:
        import torch

        if not torch.cuda.is_available():
            msg = "--device cuda asks for a GPU but this machine has none; drop --device or use a GPU cluster"
            raise InputError(msg)
    cpus = len(os.sched_getaffinity(0))
    # NOTE: Dask starts workers with OMP_NUM_THREADS=1; give torch in each worker its share of the CPUs.
    threads = str(max(1, cpus // workers))
    environ = {f"distributed.nanny.pre-spawn-environ.{name}": threads
               for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    with dask.config.set(environ):
        # NOTE: no dashboard; the scheduler's HTTP routes (health, metrics) on a free port of 127.0.0.1
        return LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                            dashboard_address=None, scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                            resources=dict(resources) if resources else None)


def jobqueue_cluster(spec: ClusterSpec) -> tuple[SpecCluster, int]:
    """A dask-jobqueue cluster from the spec's YAML (the class's keyword arguments; nothing submitted yet)
    and the number of jobs the YAML asks for (``jobs``, default 1)."""
    import yaml

    try:
        import dask_jobqueue
    except ImportError:
        msg = f"--cluster {spec.kind}: needs dask-jobqueue; install it with pip install 'pathfocus[cluster]'"
        raise InputError(msg) from None
    assert spec.config is not None  # parse_cluster gives jobqueue kinds a config
    options: Any = yaml.safe_load(spec.config.read_text(encoding="utf-8")) or {}
    if not isinstance(options, dict):
        msg = f"{spec.config} must be a mapping of {JOBQUEUE_KINDS[spec.kind]} options (see docs/cluster.md)"
        raise InputError(msg)
    jobs = int(options.pop("jobs", 1))
    try:
        cluster = getattr(dask_jobqueue, JOBQUEUE_KINDS[spec.kind])(**options)
    except (TypeError, ValueError) as error:
        msg = f"{spec.config}: {error}; see the {JOBQUEUE_KINDS[spec.kind]} options in dask-jobqueue's docs"
        raise InputError(msg) from None
    return cluster, jobs


def _check_resources(client: Client, resources: Mapping[str, float], spec: ClusterSpec) -> None:
    workers = client.scheduler_info()["workers"].values()
    if not any(all(w.get("resources", {}).get(k, 0) >= v for k, v in resources.items()) for w in workers):
        wanted = ",".join(f"{k}={v:g}" for k, v in resources.items())
        msg = (f"no worker of the cluster {spec.address or spec.kind} offers {wanted}; start GPU workers "
               f"with `dask worker --resources {wanted}` or drop --device")
        raise InputError(msg)


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError:
        msg = "--cluster needs Dask distributed; install it with pip install 'pathfocus[cluster]'"
        raise InputError(msg) from None
    return distributed
