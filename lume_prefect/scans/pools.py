"""Worker processes for a scan's batches: a local process pool or a Dask cluster.

The workers run only the plain batch function (``scans.batch.evaluate_batch``): each imports
the model once and evaluates batch after batch, with no Prefect task engine, API client,
settings context or log forwarding in it. Each batch's Prefect task run stays in the scan's
process, where a thread hands the batch to the pool and waits (``executors.scan_batch_in``):
the scan is still one flow run with one task run per batch, and the parent stores each batch
as it completes. Running Prefect's engine in the workers instead (ProcessPoolTaskRunner,
DaskTaskRunner) had each worker import Prefect and, on the ephemeral API, start an API server
of its own before its first batch: slower than running the scan in-process on two cores. So a
Dask cluster is made, connected to and closed by prefect-dask's DaskTaskRunner (any cluster
class it can start, e.g. dask-jobqueue's SLURMCluster), whose client is then given the plain
function, never the runner's task runs.
"""

from __future__ import annotations

import multiprocessing
import threading
import uuid
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Optional

from lume_prefect.core.errors import PortableCall
from lume_prefect.scans.batch import Batch, Outcome, evaluate_batch

# what a worker runs: an error of the batch as a whole (a model that cannot be imported) comes
# back even when its class cannot be pickled; errors of points are on the Outcome already
EVALUATE = PortableCall(evaluate_batch)


# glibc's malloc, left to itself, hands a freed array of megabytes back to the system, and a
# NumPy model allocating such arrays per point page-faults them in again at the next point:
# in a fresh worker process that is ~15% of such a model's time spent in the kernel (the
# scan's long-lived process is often spared: its heap is already large). Our workers live as
# long as the scan, so they keep freed memory (up to the trim threshold) for the next points.
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # mallopt parameters (malloc.h)
KEEP_FREED_BYTES = 256 * 2**20
HEAP_ARRAYS_UP_TO = 32 * 2**20  # glibc's maximum: bigger arrays are still mapped one by one


def keep_freed_memory() -> None:
    """In a worker process: let malloc keep freed memory for the next points (glibc only)."""
    import ctypes

    mallopt = getattr(ctypes.CDLL(None), "mallopt", None)
    if mallopt is not None:  # glibc and musl (a no-op there); macOS and Windows have none
        mallopt(M_MMAP_THRESHOLD, HEAP_ARRAYS_UP_TO)
        mallopt(M_TRIM_THRESHOLD, KEEP_FREED_BYTES)


class BatchPool:
    """Where batches are evaluated: ``evaluate`` hands one over and waits for its outcome."""

    def __enter__(self) -> BatchPool:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def evaluate(self, batch: Batch) -> Outcome:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class ProcessPool(BatchPool):
    """``workers`` local processes, started (spawned: no state copied from this threaded process)
    on the first batches and reused for the others."""

    def __init__(self, workers: int):
        self._executor = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                                             initializer=keep_freed_memory)

    def evaluate(self, batch: Batch) -> Outcome:
        from concurrent.futures.process import BrokenProcessPool

        from lume_prefect.scans.errors import WorkerDied

        try:
            return self._executor.submit(EVALUATE, batch).result()
        except BrokenProcessPool:
            cause = "a worker process ended abruptly (os._exit, a signal or the out-of-memory killer)"
            raise WorkerDied(batch.model, batch.number, list(batch.indices), cause) from None

    def close(self) -> None:
        # every outcome is in: the workers exit on their own, the scan need not wait for them
        self._executor.shutdown(wait=False, cancel_futures=True)


class DaskPool(BatchPool):
    """A Dask cluster, made (or connected to) and closed by prefect-dask's ``DaskTaskRunner``:
    ``runner``, a user's configured one (any cluster class, e.g. dask-jobqueue's SLURMCluster,
    adaptive or not), or one for the scheduler at ``address``, or by default one that starts a
    local cluster of ``workers`` single-threaded processes (the GIL never serialises points).

    Only the runner's cluster and client are used: the batches are handed to the client as the
    plain batch function, not as Prefect task runs (the runner's ``submit``), so the workers
    never import Prefect. ``closing``: the thread closing a cluster the runner started (its
    workers stop, and a cluster's jobs are cancelled, while the scan finishes); None otherwise.
    """

    def __init__(self, workers: int, address: Optional[str] = None, runner: Any = None):
        from prefect_dask import DaskTaskRunner

        if runner is not None:
            self._runner = fresh_runner(runner)
        elif address:
            self._runner = DaskTaskRunner(address=address)
        else:
            self._runner = DaskTaskRunner(cluster_kwargs={"n_workers": workers, "threads_per_worker": 1, "processes": True,
                                                          "dashboard_address": ":0"})
        # prefect-dask connects to the process's default Dask client, if there is one, instead
        # of starting a cluster; a cluster the runner starts is closed with it
        self._starts_cluster = not self._runner.address and getattr(self._runner, "_cluster", None) is None and not _default_client()
        own_workers = runner is None and not address and self._starts_cluster  # ours alone, for the scan's life
        self.closing: Optional[threading.Thread] = None
        self._runner.__enter__()
        try:
            self._client = self._runner.client
            if own_workers:
                self._client.run(keep_freed_memory)
        except BaseException as exc:
            self._runner.__exit__(type(exc), exc, exc.__traceback__)  # a cluster already started is closed
            raise
        self._run = uuid.uuid4().hex[:8]

    def evaluate(self, batch: Batch) -> Outcome:
        # a readable key ("scan-batch" in the dashboard), unique on a shared scheduler
        key = f"scan-batch-{batch.number}-{self._run}"
        return self._client.submit(EVALUATE, batch, key=key, pure=False).result()

    def close(self) -> None:
        if not self._starts_cluster or self._runner.performance_report_path:
            # a client to close (a second at most), or a report written where the runner entered it
            self._runner.__exit__(None, None, None)
            return
        # every outcome is in: the cluster stops (a second for a local one) while the scan
        # finishes; not a daemon thread, so the interpreter still waits for it before it exits
        self.closing = threading.Thread(target=self._runner.__exit__, args=(None, None, None), name="lume-scan-cluster-close")
        self.closing.start()


def fresh_runner(runner: Any) -> Any:
    """A new, unstarted ``DaskTaskRunner`` with the settings of ``runner`` (left untouched, so one
    configured runner serves scan after scan: a runner once started keeps its closed client).
    ``duplicate`` leaves out a running cluster given as ``cluster=``; it is carried over."""
    fresh = runner.duplicate()
    cluster = getattr(runner, "_cluster", None)
    if cluster is not None and not runner.cluster_class and getattr(fresh, "_cluster", None) is None:
        fresh._cluster = cluster
    return fresh


def _default_client() -> bool:
    """Whether this process has a default Dask client (or is a Dask worker): what prefect-dask's
    runner uses instead of starting a cluster."""
    from distributed import get_client

    try:
        get_client()
    except ValueError:
        return False
    return True


def batch_pool(executor: str, workers: int, address: Optional[str] = None, runner: Any = None) -> BatchPool:
    """The pool of ``executor`` (``processes`` or ``dask``: ``address`` or ``runner``, a
    ``DaskTaskRunner``, when given), started."""
    if executor == "processes":
        return ProcessPool(workers)
    if executor == "dask":
        return DaskPool(workers, address, runner)
    raise ValueError(f"executor {executor!r} has no worker pool")

