"""Evaluating a scan's batch in another process: import the model from its source, then run
``models.batch.evaluate_points`` (what a process pool, a Dask worker and a Slurm element do)."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from typing import Any

from lume_prefect.core.errors import portable
from lume_prefect.files.fileref import FileRef
from lume_prefect.models.batch import Batch, Outcome, evaluate_points

__all__ = ["Batch", "Outcome", "evaluate_batch", "evaluate_points", "model_function", "worker_function"]


def model_function(entrypoint: str, source: str) -> Callable[[dict[str, Any]], tuple[dict[str, Any], list[FileRef]]]:
    """The checked call of the model at ``entrypoint`` of ``source`` (imported once per process)."""
    from lume_prefect.models.flows import plain_function
    from lume_prefect.models.loading import load_model_flow
    from lume_prefect.models.plain import ModelCall

    return ModelCall(*plain_function(load_model_flow(entrypoint, source)))


def worker_function(entrypoint: str, source: str) -> Callable[[dict[str, Any]], tuple[dict[str, Any], list[FileRef]]]:
    """``model_function`` in a worker process: the model imported without its flow, so without
    Prefect (a second of a fresh process); as its flow if it needs that to be imported."""
    from lume_prefect.models.errors import FlowNeeded
    from lume_prefect.models.plain import ModelCall, load_model_function

    try:
        spec, fn = load_model_function(entrypoint, source)
    except FlowNeeded:
        return model_function(entrypoint, source)
    return ModelCall(spec, fn)


def evaluate_batch(batch: Batch) -> Outcome:
    """Evaluate ``batch`` in this process, importing the model from its source: what a process
    pool, a Dask worker and a Slurm array element run."""
    if batch.services:
        os.environ.setdefault("LUME_SERVICES", batch.services)  # a worker process: models find their file block
    worker = f"{socket.gethostname()}:{os.getpid()}"
    try:
        function = worker_function(batch.entrypoint, batch.source)
    except Exception as exc:
        exc.add_note(f"raised importing model {batch.model} {batch.version} ({batch.entrypoint} in {batch.source}) on worker {worker}")
        # pickle, not cloudpickle: a process pool sends errors with it, and an error class of the
        # model's own module (imported under a private name) cannot be rebuilt by the scan
        carried = portable(exc)
        if carried is exc:
            raise
    else:
        outcome = evaluate_points(batch, function)
        outcome.worker = worker
        return outcome
    raise carried  # outside the except block: no context to drag along (see PortableCall)
