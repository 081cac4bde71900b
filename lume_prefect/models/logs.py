"""Logging from a model's function, the same way wherever it runs.

In a Prefect run (a flow run, a scan's batch in the scan's process) ``model_logger()`` is the
run's logger, so the records show on the run's page. A scan's worker (a process pool, a Dask
worker, a Slurm element) has no Prefect run: Prefect's ``get_run_logger()`` raises
MissingContextError there, and ``model_logger()`` is the ``lume_prefect.model`` logger instead,
whose records the worker collects with the batch's outcome (``collecting_model_logs``) for the
scan to log on the batch's task run. Domain code: Prefect is asked only if it is imported.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Union

MODEL_LOGGER = "lume_prefect.model"
MAX_RECORDS_PER_BATCH = 1000  # a model logging every step must not flood the scan's run log


def model_logger() -> Union[logging.Logger, logging.LoggerAdapter]:
    """The logger a model's function should log with: the Prefect run's logger inside a run,
    else ``logging.getLogger("lume_prefect.model")``, whose records a scan's worker sends back
    to the scan (shown on the batch's task run, with the point's index)."""
    if "prefect" in sys.modules:  # a Prefect run needs Prefect imported
        from prefect.context import FlowRunContext, TaskRunContext

        if TaskRunContext.get() is not None or FlowRunContext.get() is not None:
            from prefect.logging import get_run_logger

            return get_run_logger()
    return logging.getLogger(MODEL_LOGGER)


WHOLE_BATCH = -1  # the position of a record logged by a vectorized call: every point of the batch


class ModelLogs(logging.Handler):
    """The records of ``lume_prefect.model`` logged by one thread (the batch's), with the
    position of the point being evaluated (``WHOLE_BATCH`` during a vectorized model's call
    on the whole batch): ``records`` is [(position, level, message)]."""

    def __init__(self, limit: int = MAX_RECORDS_PER_BATCH):
        super().__init__()
        self.records: list[tuple[int, int, str]] = []
        self.dropped = 0
        self.position = 0
        self._limit = limit
        self._thread = threading.get_ident()

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread != self._thread:  # another batch in the same worker (a threaded Dask worker)
            return
        if len(self.records) >= self._limit:
            self.dropped += 1
            return
        try:
            self.records.append((self.position, record.levelno, record.getMessage()))
        except Exception:  # noqa: BLE001 - a bad format string is the model's bug, not the batch's
            self.handleError(record)


@contextmanager
def collecting_model_logs() -> Iterator[ModelLogs]:
    """Collect what ``model_logger()`` logs outside a Prefect run, in this thread, at INFO and
    above (Prefect's default level) unless the logger has a level of its own."""
    logger = logging.getLogger(MODEL_LOGGER)
    logs = ModelLogs()
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.INFO)
    logger.addHandler(logs)
    try:
        yield logs
    finally:
        logger.removeHandler(logs)


def replay_model_logs(logger: Any, records: list[tuple[int, int, str]], dropped: int, indices: list[int]) -> None:
    """Log a batch's collected records on ``logger`` (the batch's run logger), each with the
    index of its point in the scan, or the indices of the batch's points for a record of a
    vectorized call on all of them."""
    for position, level, message in records:
        if position == WHOLE_BATCH:
            logger.log(level, "points %s: %s", index_ranges(indices), message)
        else:
            logger.log(level, "point %d: %s", indices[position], message)
    if dropped:
        logger.warning("%d more records of the model were dropped (at most %d per batch)", dropped, MAX_RECORDS_PER_BATCH)


def index_ranges(indices: list[int], most: int = 8) -> str:
    """``[0, 1, 2, 3, 7, 9, 10]`` as ``0-3, 7, 9-10``: the points of a batch, at most ``most``
    runs of them shown (then ``... (N points)``)."""
    runs: list[list[int]] = []
    for index in indices:
        if runs and index == runs[-1][1] + 1:
            runs[-1][1] = index
        else:
            runs.append([index, index])
    shown = ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in runs[:most])
    return shown if len(runs) <= most else f"{shown}, ... ({len(indices)} points)"
