"""Evaluating a scan's batch in another process: import the model from its source, then run
``models.batch.evaluate_points`` (what a process pool, a Dask worker and a Slurm element do)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from lume_prefect.files.fileref import FileRef
from lume_prefect.models.batch import Batch, Outcome, evaluate_points

__all__ = ["Batch", "Outcome", "evaluate_batch", "evaluate_points", "model_function"]


def model_function(entrypoint: str, source: str) -> Callable[[dict[str, Any]], tuple[dict[str, Any], list[FileRef]]]:
    """The checked call of the model at ``entrypoint`` of ``source`` (imported once per process)."""
    from lume_prefect.models.flows import call_model, plain_function
    from lume_prefect.models.loading import load_model_flow

    spec, fn = plain_function(load_model_flow(entrypoint, source))
    return lambda values: call_model(spec, fn, values)


def evaluate_batch(batch: Batch) -> Outcome:
    """Evaluate ``batch`` in this process, importing the model from its source: what a process
    pool, a Dask worker and a Slurm array element run."""
    if batch.services:
        os.environ.setdefault("LUME_SERVICES", batch.services)  # a worker process: models find their file block
    return evaluate_points(batch, model_function(batch.entrypoint, batch.source))
