"""Worker processes for a scan's batches: a local process pool or a Dask cluster.

The workers run only the plain batch function (``scans.batch.evaluate_batch``): each imports
the model once and evaluates batch after batch, with no Prefect task engine, API client,
settings context or log forwarding in it. Each batch's Prefect task run stays in the scan's
process, where a thread hands the batch to the pool and waits (``executors.scan_batch_in``):
the scan is still one flow run with one task run per batch, and the parent stores each batch
as it completes. Running Prefect's engine in the workers instead (ProcessPoolTaskRunner,
DaskTaskRunner) costs each worker seconds before its first point, and each batch the task
run's round trips from a second process.
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
# scan's long-lived process is spared: its heap is already large and fragmented). Our workers
# live as long as the scan, so they keep freed memory (up to the trim threshold) for reuse.
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
        return self._executor.submit(EVALUATE, batch).result()

    def close(self) -> None:
        # every outcome is in: the workers exit on their own, the scan need not wait for them
        self._executor.shutdown(wait=False, cancel_futures=True)


class DaskPool(BatchPool):
    """A Dask cluster: the scheduler at ``address`` (a facility's, e.g. dask-jobqueue's
    SLURMCluster; every batch is handed over at once so it can scale to them), or a local
    cluster of ``workers`` single-threaded processes (the GIL never serialises points)."""

    def __init__(self, workers: int, address: Optional[str] = None):
        from distributed import Client, LocalCluster

        self._cluster = None
        if address:
            self._client = Client(address)
        else:
            self._cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0")
            self._client = Client(self._cluster)
            self._client.run(keep_freed_memory)  # our own workers, closed with the scan
        self._run = uuid.uuid4().hex[:8]

    def evaluate(self, batch: Batch) -> Outcome:
        # a readable key ("scan-batch" in the dashboard), unique on a shared scheduler
        key = f"scan-batch-{batch.number}-{self._run}"
        return self._client.submit(EVALUATE, batch, key=key, pure=False).result()

    def close(self) -> None:
        if self._cluster is None:
            self._client.close()
            return
        # every outcome is in: the local cluster stops (a second here) while the scan finishes;
        # not a daemon thread, so the interpreter still waits for it before it exits
        threading.Thread(target=self._stop, name="lume-scan-cluster-close").start()

    def _stop(self) -> None:
        self._client.close()
        self._cluster.close()


def batch_pool(executor: str, workers: int, address: Optional[str] = None) -> BatchPool:
    """The pool of ``executor`` (``processes`` or ``dask``), started."""
    if executor == "processes":
        return ProcessPool(workers)
    if executor == "dask":
        return DaskPool(workers, address)
    raise ValueError(f"executor {executor!r} has no worker pool")

