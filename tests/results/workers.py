"""Code run in separate processes by the concurrency tests (importable under spawn)."""

from __future__ import annotations

from datetime import datetime, timezone

from lume_prefect.results import DuplicateResult, Result

CONTENDED = 24
STRIDE = 20  # worker w also batch-inserts results CONTENDED + STRIDE*w ... + 2*STRIDE  # every process inserts these same keys with on_duplicate="error"
T0 = datetime(2026, 11, 1, tzinfo=timezone.utc)


def result(i: int) -> Result:
    return Result(model="contended", version="1", inputs={"i": i}, outputs={"y": i * 0.5}, created=T0)


def open_store(backend: str, target: str):
    if backend == "mongo":
        from lume_prefect.results.mongo import MongoResultsStore

        url, database = target.rsplit("|", 1)
        return MongoResultsStore(url, database)
    from lume_prefect.results.sql import SQLResultsStore

    return SQLResultsStore(target)


def insert_overlapping(backend: str, target: str, worker: int, barrier, answers) -> None:
    """Wait for all workers, then race: contended single inserts, then overlapping batches."""
    try:
        answers.put((worker, _race(backend, target, worker, barrier)))
    except BaseException as exc:
        answers.put((worker, exc))
        raise


def _race(backend: str, target: str, worker: int, barrier) -> list[str]:
    store = open_store(backend, target)
    contended = [result(i) for i in range(CONTENDED)]
    batches = [[result(CONTENDED + worker * STRIDE + j) for j in range(start, start + 10)] for start in range(0, 2 * STRIDE, 10)]
    barrier.wait()
    won = []
    for item in contended[worker:] + contended[:worker]:  # different orders, same keys
        try:
            store.insert(item, on_duplicate="error")
            won.append(item.key)
        except DuplicateResult:
            pass
    for batch in batches:  # each worker's range overlaps the next worker's by half
        store.insert_many(batch, on_duplicate="skip")
    store.close()
    return won
