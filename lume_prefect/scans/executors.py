"""Where a scan's batches run: this process, a process pool, Dask, a Slurm job array, or a deployment.

Each executor yields batch outcomes as they complete, so the scan stores every batch as soon
as it is done. Batches are one Prefect task run each (the Slurm array is one task run; a
deployment batch is a flow run of the model's deployment). A process pool's and a Dask
cluster's task runs stay in the scan's process, each waiting in a thread for its batch, which
the workers evaluate without Prefect (``scans.pools``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Literal, Optional, get_args

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from lume_prefect.models.logs import replay_model_logs
from lume_prefect.scans.batch import Batch, Outcome, evaluate_points

if TYPE_CHECKING:
    from lume_prefect.scans.pools import BatchPool
    from lume_prefect.slurm.blocks import SlurmCluster

Executor = Literal["in-process", "processes", "dask", "slurm", "deployment"]
EXECUTORS: tuple[str, ...] = get_args(Executor)
# batches per worker when the caller does not choose a batch size: enough to balance uneven
# points and show progress, few enough that per-batch costs (a task run, one insert) vanish
BATCHES_PER_WORKER = 4
IN_PROCESS_BATCHES = 10
IN_PROCESS_MIN_BATCH = 100  # points: a batch's task run and insert cost milliseconds, a point of a fast model less
# a vectorized model in this process: one call for every point (its cost per call, not per
# point, is what batching saves), split only beyond this many points to bound its memory
IN_PROCESS_VECTORIZED_BATCH = 100_000
MAX_BATCHES_IN_FLIGHT = 256  # on a cluster we do not size: one waiting thread each, not one per batch of 10,000


def check_executor(executor: Any, **options: Any) -> str:
    """``executor``, checked, and the options given (not None) that only one executor reads:
    ``address`` (dask), ``slurm`` and ``job`` (slurm); given to another they would be ignored."""
    if executor not in EXECUTORS:
        raise ValueError(f"executor must be one of {', '.join(EXECUTORS)}, got {executor!r}")
    for option, value in options.items():
        wanted = _OPTION_OF[option]
        if value is not None and executor != wanted:
            raise ValueError(f"{option}= is read by executor={wanted!r} only, got executor={executor!r}")
    return executor


_OPTION_OF = {"address": "dask", "slurm": "slurm", "job": "slurm"}


# Executors that can stop a batch running past run_scan's timeout: in-process interrupts it
# (Prefect's task timeout), deployment cancels its flow run. A pool worker or a Slurm job
# cannot be stopped from here without losing the batches beside it: those refuse a timeout.
TIMEOUT_EXECUTORS = ("in-process", "deployment")


def check_scan_timeout(timeout: Any, executor: str) -> Optional[float]:
    """``timeout`` (seconds per batch) checked, and refused by an executor that cannot enforce it."""
    from lume_prefect.models.run import check_timeout

    seconds = check_timeout(timeout)
    if seconds is not None and executor not in TIMEOUT_EXECUTORS:
        hint = " (give the job a time limit: job={'time_limit': ...})" if executor == "slurm" else ""
        raise ValueError(
            f"timeout= (seconds per batch) is enforced by executor 'in-process' (the batch is interrupted) and "
            f"'deployment' (its flow run is cancelled); executor={executor!r} cannot stop a running batch{hint}"
        )
    return seconds


def check_workers(workers: Any) -> Optional[int]:
    """``workers`` checked: None (the executor's default) or a positive int."""
    if workers is not None and (type(workers) is not int or workers < 1):
        raise ValueError(f"workers must be a positive int (or None: the executor's default), got {workers!r}")
    return workers


def default_workers(executor: str) -> int:
    import os

    return 1 if executor == "in-process" else max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def batch_size_for(points: int, executor: str, workers: int, batch_size: Optional[int], vectorized: bool = False) -> int:
    if batch_size is not None:
        if type(batch_size) is not int or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        return batch_size
    if executor == "in-process" and vectorized:
        return max(1, min(points, IN_PROCESS_VECTORIZED_BATCH))
    if executor == "in-process":
        return max(1, min(points, IN_PROCESS_MIN_BATCH), math.ceil(points / IN_PROCESS_BATCHES))
    return max(1, math.ceil(points / (workers * BATCHES_PER_WORKER)))


@task(name="scan-batch", cache_policy=NO_CACHE, task_run_name="batch {batch.number} of {batch.model}")
def scan_batch_here(batch: Batch, function: Callable[[dict[str, Any]], Any]) -> Outcome:
    """Evaluate one batch in this process with the already imported model function."""
    outcome = evaluate_points(batch, function)
    replay_model_logs(get_run_logger(), outcome.logs, outcome.dropped_logs, batch.indices)
    return outcome


@task(name="scan-batch", cache_policy=NO_CACHE, task_run_name="batch {batch.number} of {batch.model}")
def scan_batch_in(batch: Batch, pool: BatchPool) -> Outcome:
    """Evaluate one batch of scan points in a worker of the scan's process pool or Dask cluster."""
    outcome = pool.evaluate(batch)
    log = get_run_logger()
    replay_model_logs(log, outcome.logs, outcome.dropped_logs, batch.indices)
    log.info("%d points in %.2f s on %s", len(batch), outcome.seconds, outcome.worker or "a worker")
    return outcome


def task_runner(executor: str, workers: int, address: Optional[str], batches: int, dask: Any = None) -> Any:
    """The Prefect task runner of the scan flow for ``executor``: threads that wait for the
    batches in flight (one per worker of our own local pool or cluster; every batch on a cluster
    at ``address`` or of a user's ``DaskTaskRunner``, whose size we do not know and which may
    scale to them)."""
    if executor not in ("processes", "dask"):
        return None
    from prefect.task_runners import ThreadPoolTaskRunner

    every_batch = executor == "dask" and (address or dask is not None)
    return ThreadPoolTaskRunner(max_workers=max(1, min(batches, MAX_BATCHES_IN_FLIGHT) if every_batch else workers))


def check_dask(dask: Any, executor: str, address: Optional[str]) -> Any:
    """``dask``, a prefect-dask ``DaskTaskRunner`` for ``executor="dask"`` without ``address``, or None."""
    if dask is None:
        return None
    from prefect_dask import DaskTaskRunner

    if not isinstance(dask, DaskTaskRunner):
        hint = " (a scheduler's address goes to address=)" if isinstance(dask, str) else ""
        raise TypeError(f"dask must be a prefect_dask.DaskTaskRunner, e.g. DaskTaskRunner(cluster_class=\"dask_jobqueue.SLURMCluster\", "
                        f"cluster_kwargs={{...}}), got {type(dask).__name__} {dask!r:.60}{hint}")
    if executor != "dask":
        raise ValueError(f"dask= (a DaskTaskRunner) is for executor='dask', got executor={executor!r}")
    if address:
        raise ValueError("give either dask= (a DaskTaskRunner) or address= (a running Dask scheduler), not both: "
                         "DaskTaskRunner(address=...) is the runner of an address")
    named, imported = dask.cluster_class, dask.resolved_cluster_class
    if isinstance(named, str):  # a class by name must be a cluster class (a callable given itself may be a factory)
        from distributed.deploy.cluster import Cluster

        if not (isinstance(imported, type) and issubclass(imported, Cluster)):
            raise TypeError(f"cluster_class {named!r} is not a Dask cluster class (a subclass of distributed.deploy.Cluster, "
                            f"e.g. distributed.LocalCluster or dask_jobqueue.SLURMCluster), got {type(imported).__name__} {imported!r:.60}")
    return dask


def runner_workers(dask: Any) -> Optional[int]:
    """How many workers a user's ``DaskTaskRunner`` asks for: its ``adapt_kwargs`` maximum, else
    its ``cluster_kwargs`` n_workers (None if neither is a positive int): the batches are sized
    for them when the scan is not given ``workers``."""
    if dask is None:
        return None
    for given in (dask.adapt_kwargs.get("maximum"), dask.cluster_kwargs.get("n_workers")):
        if type(given) is int and given > 0:
            return given
    return None


def run_in_process(batches: Sequence[Batch], function: Callable[[dict[str, Any]], Any], stop: Callable[[], bool],
                   timeout: Optional[float] = None) -> Iterator[Outcome]:
    """Batch after batch in this process; one running past ``timeout`` seconds is interrupted
    (Prefect's task timeout) and its points recorded as failures."""
    from lume_prefect.scans.deployment import whole_batch_failed

    run = scan_batch_here if timeout is None else scan_batch_here.with_options(timeout_seconds=timeout)
    for batch in batches:
        if stop():
            return
        try:
            outcome = run(batch, function)
        except TimeoutError:
            outcome = whole_batch_failed(batch, "TimeoutError", f"batch {batch.number} ({len(batch)} points) not finished after {timeout:g} s; interrupted")
        yield outcome


def run_in_pool(batches: Sequence[Batch], executor: str, workers: int, address: Optional[str], dask: Any = None) -> Iterator[Outcome]:
    """Batches evaluated by a process pool or a Dask cluster (``dask``: a user's DaskTaskRunner),
    yielded as they finish; each is a task run of the flow's thread task runner (``task_runner``)
    waiting for its batch."""
    from prefect.futures import as_completed

    from lume_prefect.scans.pools import batch_pool

    with batch_pool(executor, min(workers, len(batches)), address, dask) as pool:  # no idle workers to start
        futures = [scan_batch_in.submit(batch, pool) for batch in batches]
        for future in as_completed(futures):
            yield future.result()


def run_on_slurm(batches: Sequence[Batch], cluster: SlurmCluster | str, job: Any) -> Iterator[Outcome]:
    """All batches as the elements of one Slurm job array (one element per batch)."""
    from lume_prefect.scans.batch import evaluate_batch
    from lume_prefect.slurm.tasks import map_task_as_array

    log = get_run_logger()
    job = scan_job(job, batches[0]) if batches else job
    for batch, outcome in zip(batches, map_task_as_array(cluster, evaluate_batch, list(batches), job=job)):
        replay_model_logs(log, outcome.logs, outcome.dropped_logs, batch.indices)
        yield outcome


def scan_job(job: Any, batch: Batch) -> Any:
    """The scan's job array as squeue shows it: named after the model, with a comment naming
    the model version and the scan's flow run, unless the user's ``job`` names them."""
    from prefect.context import FlowRunContext

    from lume_prefect.slurm.job import SlurmJob

    context = FlowRunContext.get()
    run = f", flow run {context.flow_run.id}" if context is not None and context.flow_run is not None else ""
    named = {"name": re.sub(r"[^A-Za-z0-9_.+-]", "-", batch.model)[:128], "comment": f"lume-prefect scan of {batch.model} {batch.version}{run}"[:250]}
    if isinstance(job, SlurmJob):
        return job.model_copy(update={k: v for k, v in named.items() if getattr(job, k) in (None, "lume-job")})
    return {**named, **(job or {})}


def run_as_deployments(batches: Sequence[Batch], deployment: str, services: Optional[str], workers: int, timeout: Optional[float],
                       **reading: Any) -> Iterator[Outcome]:
    """Each batch as a flow run of the version's deployment (its work pool's workers run it);
    at most ``workers`` at once, yielded as they finish."""
    from lume_prefect.scans.deployment import run_batches_as_deployments

    yield from run_batches_as_deployments(batches, deployment, services, workers, timeout, **reading)
