"""Code run in separate processes by the hardening fault tests (importable under spawn)."""

from __future__ import annotations

import logging


class _Count(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


def write_results(url: str, writer: int, total: int, batch: int, progress, start, answers) -> None:
    """Once every writer is ready (``start``, a barrier), insert ``total`` results of this writer
    in batches; report (writer, error or None, retries)."""
    retries = _Count()
    logging.getLogger("lume_prefect.retry").addHandler(retries)
    try:
        from lume_prefect.results import Result
        from lume_prefect.results.sql import SQLResultsStore

        store = SQLResultsStore(url)
        store.count()  # connected: the imports of a spawned process take longer than the writing
        start.wait()
        for first in range(0, total, batch):
            rows = [Result(model="restart", version="1", inputs={"writer": writer, "i": i}, outputs={"y": i}) for i in range(first, first + batch)]
            store.insert_many(rows, on_duplicate="skip")
            with progress.get_lock():
                progress[writer] += len(rows)
        store.close()
        answers.put((writer, None, retries.count))
    except BaseException as exc:  # noqa: BLE001 - reported to the test, which fails on it
        answers.put((writer, f"{type(exc).__name__}: {exc}", retries.count))


def write_through_an_outage(url: str, writer: int, batches: int, batch: int, progress, start, answers) -> None:
    """Like ``write_results``, but a batch whose write fails is reported and skipped, and the
    writer goes on: report (writer, [(batch number, error type, message)], retries)."""
    retries = _Count()
    logging.getLogger("lume_prefect.retry").addHandler(retries)
    failed = []
    try:
        from lume_prefect.results import Result
        from lume_prefect.results.sql import SQLResultsStore

        store = SQLResultsStore(url)
        store.count()
        start.wait()
        for number in range(batches):
            rows = [Result(model="outage", version="1", inputs={"writer": writer, "batch": number, "i": i}, outputs={"y": i}) for i in range(batch)]
            try:
                store.insert_many(rows, on_duplicate="error")
            except Exception as exc:  # noqa: BLE001 - what the caller sees is what the test checks
                failed.append((number, type(exc).__name__, str(exc).splitlines()[0]))
            with progress.get_lock():
                progress[writer] += 1
        store.close()
        answers.put((writer, failed, retries.count))
    except BaseException as exc:  # noqa: BLE001 - reported to the test, which fails on it
        answers.put((writer, [(-1, type(exc).__name__, str(exc))], retries.count))
