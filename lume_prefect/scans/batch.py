"""A batch of scan points and its evaluation: the model's plain function on each point.

Domain code: no Prefect run is needed, so a batch runs the same way in this process, in a
process pool, on a Dask worker or in a Slurm job. Its outcome is plain data (pickles
anywhere): per point the checked outputs and files, or the error's type and message.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any, Optional

from lume_prefect.files.fileref import FileRef


class Batch:
    """Points of one scan evaluated together: where the model's code is, and the checked inputs.

    A plain class, not a dataclass: Prefect walks dataclasses, dicts and lists given to a
    task (looking for futures), which for a batch would mean every value of every point.
    """

    def __init__(self, number: int, model: str, version: str, entrypoint: str, source: str, indices: list[int],
                 points: list[dict[str, Any]], services: Optional[str] = None):
        self.number, self.model, self.version = number, model, version
        self.entrypoint, self.source = entrypoint, source
        self.indices = indices  # positions of the points in the scan
        self.points = points  # inputs already checked and completed by the spec
        self.services = services  # LUME_SERVICES for models that write files (other processes)

    def __len__(self) -> int:
        return len(self.points)

    def __repr__(self) -> str:
        return f"Batch({self.number}: {len(self.points)} points of {self.model} {self.version})"


class Outcome:
    """What a batch computed: per point (outputs, files) or None, and per failed point (type, message).
    A plain class for the same reason as Batch."""

    def __init__(self, number: int):
        self.number = number
        self.outputs: list[Optional[dict[str, Any]]] = []
        self.files: list[list[FileRef]] = []
        self.errors: dict[int, tuple[str, str]] = {}  # position in the batch -> error
        self.seconds = 0.0
        self.stored: Optional[list[Any]] = None  # Results the batch's own run already stored (a deployment run)


def evaluate_points(batch: Batch, function: Callable[[dict[str, Any]], tuple[dict[str, Any], list[FileRef]]]) -> Outcome:
    """``function(inputs)`` on every point; a point that raises is recorded, the others go on."""
    outcome = Outcome(batch.number)
    started = time.perf_counter()
    outputs, files, errors = outcome.outputs, outcome.files, outcome.errors
    for position, values in enumerate(batch.points):
        try:
            result, written = function(values)
        except Exception as exc:  # noqa: BLE001 - a failing point must not stop the scan
            kind = type(exc)
            name = kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"
            errors[position] = (name, str(exc))
            outputs.append(None)
            files.append([])
            continue
        outputs.append(result)
        files.append(written)
    outcome.seconds = time.perf_counter() - started
    return outcome


def model_function(entrypoint: str, source: str) -> Callable[[dict[str, Any]], tuple[dict[str, Any], list[FileRef]]]:
    """The checked call of the model at ``entrypoint`` of ``source`` (imported once per process)."""
    from lume_prefect.models.flows import call_model, plain_function
    from lume_prefect.models.run import load_model_flow

    spec, fn = plain_function(load_model_flow(entrypoint, source))
    return lambda values: call_model(spec, fn, values)


def evaluate_batch(batch: Batch) -> Outcome:
    """Evaluate ``batch`` in this process, importing the model from its source: what a process
    pool, a Dask worker and a Slurm array element run."""
    if batch.services:
        os.environ.setdefault("LUME_SERVICES", batch.services)  # a worker process: models find their file block
    return evaluate_points(batch, model_function(batch.entrypoint, batch.source))
