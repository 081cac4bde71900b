"""A batch of model points and its evaluation: the model's checked call on each point.

Domain code, used by ``run_scan`` (``lume_prefect.scans``) and by a model flow given a batch
(its ``lume_scan_batch`` parameter, the deployment executor): no Prefect run is needed to
evaluate, so a batch runs the same way in this process, a process pool, a Dask worker or a
Slurm job. Its outcome is plain data (pickles anywhere): per point the checked outputs and
files, or the error's type and message. Imports nothing of ``models.flows`` (which calls it).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Optional

from lume_prefect.files.fileref import FileRef
from lume_prefect.models.logs import WHOLE_BATCH, collecting_model_logs

if TYPE_CHECKING:
    from lume_prefect.models.contract import ModelSpec

FAILURES_KEY = "scan-batch-failures"  # the table artifact of a batch run's failed points
Call = Callable[[dict[str, Any]], tuple[dict[str, Any], list[FileRef]]]


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
        # (Prefect API URL, host) of the scan's process, set where the batch leaves it: a worker
        # on that host talks to the same API, the temporary server's too (scans.batch.follow_api)
        self.api: Optional[tuple[str, str]] = None

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
        self.worker = ""  # host:pid of the process that evaluated it, when not the scan's own
        self.stored: Optional[list[Any]] = None  # Results the batch's own run already stored (a deployment run)
        self.logs: list[tuple[int, int, str]] = []  # what the model logged outside a Prefect run (models.logs)
        self.dropped_logs = 0


def evaluate_points(batch: Batch, function: Callable[[dict[str, Any]], tuple[dict[str, Any], list[FileRef]]]) -> Outcome:
    """``function(inputs)`` on every point; a point that raises is recorded, the others go on.

    A vectorized model's ``function`` (a ``ModelCall`` whose spec says ``vectorized``) is
    called once for the whole batch. If that call raises, the batch is evaluated again point
    by point (calls of one point), so only the points that fail are recorded as failed, each
    with its own error. If it returns outputs that are not one value per point (a wrong
    length: InvalidOutput naming the model and the output), every point of the batch is
    recorded as failed with that error: it is the model's bug, which calls of one point would hide.
    """
    outcome = Outcome(batch.number)
    started = time.perf_counter()
    outputs, files, errors = outcome.outputs, outcome.files, outcome.errors
    with collecting_model_logs() as logs:
        logs.position = WHOLE_BATCH  # what a vectorized call logs is about all of the batch's points
        if getattr(function, "vectorized", False) and batch.points and _evaluate_together(batch, function, outcome):
            outcome.logs, outcome.dropped_logs = logs.records, logs.dropped
            outcome.seconds = time.perf_counter() - started
            return outcome
        for position, values in enumerate(batch.points):
            logs.position = position
            try:
                result, written = function(values)
            except Exception as exc:  # noqa: BLE001 - a failing point must not stop the scan
                errors[position] = (_qualified_name(type(exc)), _message(exc))
                outputs.append(None)
                files.append([])
                continue
            outputs.append(result)
            files.append(written)
    outcome.logs, outcome.dropped_logs = logs.records, logs.dropped
    outcome.seconds = time.perf_counter() - started
    return outcome


def _evaluate_together(batch: Batch, function: Any, outcome: Outcome) -> bool:
    """One call of a vectorized model on the batch into ``outcome``; False if the points
    must be evaluated one by one (the call raised)."""
    from lume_prefect.models.errors import InvalidOutput

    try:
        done = function.many(batch.points)
    except InvalidOutput as exc:  # the model's outputs do not fit the batch: every point failed
        error = (_qualified_name(type(exc)), _message(exc))
        outcome.errors.update((position, error) for position in range(len(batch)))
        outcome.outputs.extend([None] * len(batch))
        outcome.files.extend([] for _ in batch.points)
        return True
    except Exception:  # noqa: BLE001 - find the points that fail, one by one
        return False
    for result, written in done:
        outcome.outputs.append(result)
        outcome.files.append(written)
    return True


def _qualified_name(kind: type) -> str:
    return kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"


def _message(exc: Exception) -> str:
    if type(exc).__name__ == "MissingContextError":  # Prefect's get_run_logger() in a worker
        return (f"{exc} (a scan's worker process has no Prefect run: log with lume_prefect.model_logger(), "
                "the run's logger in a run and a logger whose records the worker sends back to the scan elsewhere)")
    return str(exc)


def run_batch_here(spec: ModelSpec, call: Call, parameters: dict[str, Any]) -> dict[str, Any]:
    """Inside the deployment's flow run: evaluate, store, and report failures (a table artifact)."""
    from prefect import get_run_logger
    from prefect.artifacts import create_table_artifact

    from lume_prefect.core.resolve import current_services
    from lume_prefect.results.codec import result_keys
    from lume_prefect.results.store import trusted_results

    from lume_prefect.models.particles import read_particle_refs

    read: dict[Any, Any] = {}  # particles travel as FileRefs (models.particles): each file read once
    points = [spec.validate_inputs(read_particle_refs(spec, p, memo=read)) for p in parameters["points"]]  # the same checks as every run
    batch = Batch(int(parameters.get("number", 0)), spec.name, spec.version, "", "", list(range(len(points))), points)
    outcome = evaluate_points(batch, call)
    ok = [p for p in range(len(points)) if p not in outcome.errors]
    failures = [{"position": p, "error_type": kind, "message": message} for p, (kind, message) in sorted(outcome.errors.items())]
    keys = result_keys(spec.name, spec.version, [points[p] for p in ok])
    results = []
    for p, key in zip(ok, keys):
        try:
            results += trusted_results(spec.name, spec.version, [key], [points[p]], [outcome.outputs[p]], files=[outcome.files[p]], tags=parameters.get("tags", ()),
                                       warnings=[spec.input_warnings(points[p])])
        except ValueError as exc:
            failures.append({"position": p, "error_type": type(exc).__name__, "message": str(exc)})
    current_services().results.store().insert_many(results, on_duplicate="replace" if parameters.get("refresh") else "skip")
    if failures:
        create_table_artifact(table=failures, key=FAILURES_KEY, description=f"{len(failures)} of {len(points)} points of this batch failed")
    get_run_logger().info("scan batch %s: %d points stored, %d failed", batch.number, len(results), len(failures))
    return {"stored": len(results), "failed": len(failures)}
