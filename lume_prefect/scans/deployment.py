"""Scan batches as flow runs of a model version's deployment (``run_scan(executor="deployment")``).

The batch travels as the model flow's ``lume_scan_batch`` parameter. The flow run, on a
worker of the deployment's pool, evaluates the points with the model's plain function,
stores them with one bulk insert in its own services' results store, and lists its failed
points in a table artifact; the scan reads the stored results back by key.

``lume_scan_batch`` is a parameter of the flow but not of its schema (the run form shows the
model's inputs only). The server validates a run's parameters against the deployment's
schema (``enforce_parameter_schema``, on by default): other properties pass (the schema does
not forbid them), but a required input must be there, so a batch run also carries the first
point's values of the schema's required inputs (checked by the spec already, so they pass);
the flow ignores them when given a batch.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Optional
from uuid import UUID

from lume_prefect.files.serializers import is_particle_group
from lume_prefect.models.batch import FAILURES_KEY, Batch, Outcome


def batch_parameters(points: list[dict[str, Any]], number: int, scan_tags: list[str], refresh: bool) -> dict[str, Any]:
    from lume_prefect.models.run import _jsonable

    return {"number": number, "points": [_jsonable(p) for p in points], "tags": scan_tags, "refresh": refresh}


def run_parameters(batch: Batch, required: Sequence[str], scan_tags: list[str], refresh: bool,
                   files: Any = None, memo: Optional[dict[int, Any]] = None) -> dict[str, Any]:
    """The parameters of the deployment run of ``batch``: the batch, and the values of the
    schema's ``required`` inputs at its first point (the server requires them; the flow ignores them).
    ParticleGroups travel as the FileRefs of their files, written through ``files``
    (``models.particles``; ``memo``: each group written once per scan)."""
    from lume_prefect.models.flows import SCAN_BATCH
    from lume_prefect.models.run import _jsonable

    points = batch.points
    if files is not None and any(is_particle_group(v) for p in points for v in p.values()):
        from lume_prefect.models.particles import particle_refs

        points = [particle_refs(p, files, memo) for p in points]
    first = points[0]
    return _jsonable({name: first[name] for name in required if name in first}) | {SCAN_BATCH: batch_parameters(points, batch.number, scan_tags, refresh)}


def run_batches_as_deployments(
    batches: Sequence[Batch], deployment: str, services: Optional[str], workers: int, timeout: Optional[float],
    scan_tags: list[str], refresh: bool, stored: Callable[[list[str]], dict[str, Any]], keys_of: Callable[[Batch], list[str]],
    files: Any = None, given_refs: Optional[dict[int, Any]] = None,
) -> Iterator[Outcome]:
    """Run each batch as a flow run of ``deployment``, at most ``workers`` at once; yield each
    outcome (with the results its run stored) as its run ends. ``files``: the file block the
    points' ParticleGroups are written through (the scan's services'); ``given_refs`` (by
    group): the FileRefs of groups read from files of that block, given as they are."""
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment

    from lume_prefect.services import SERVICES_ENV, services_name

    job_variables = {"env": {SERVICES_ENV: services_name(services)}}
    pending = list(batches)
    running: dict[UUID, tuple[Batch, float]] = {}
    written: dict[int, Any] = dict(given_refs or {})  # ParticleGroups already in files, by object
    with get_client(sync_client=True) as client:
        required = (client.read_deployment_by_name(deployment).parameter_openapi_schema or {}).get("required", [])
        while pending or running:
            while pending and len(running) < max(1, workers):
                batch = pending.pop(0)
                run = run_deployment(name=deployment, parameters=run_parameters(batch, required, scan_tags, refresh, files, written),
                                     timeout=0, job_variables=job_variables, tags=["lume-prefect", "lume-scan"], _sync=True)
                running[run.id] = (batch, time.monotonic())
            time.sleep(0.5)
            for run_id, (batch, started) in list(running.items()):
                state = client.read_flow_run(run_id).state
                if state is None or not state.is_final():
                    if timeout is not None and time.monotonic() - started > timeout:
                        from lume_prefect.models.run import cancel_flow_run

                        cancel_flow_run(run_id)
                        del running[run_id]
                        yield whole_batch_failed(batch, "TimeoutError", f"flow run {run_id} not finished after {timeout:g} s; cancelled")
                    continue
                del running[run_id]
                if not state.is_completed():
                    yield whole_batch_failed(batch, f"flow run {state.name}", f"flow run {run_id}: {state.message or state.name}")
                    continue
                yield _read_back(client, run_id, batch, stored(keys_of(batch)), keys_of(batch))


def whole_batch_failed(batch: Batch, kind: str, message: str) -> Outcome:
    outcome = Outcome(batch.number)
    outcome.outputs, outcome.files = [None] * len(batch), [[] for _ in batch.points]
    outcome.errors = {p: (kind, message) for p in range(len(batch))}
    return outcome


def _read_back(client: Any, run_id: UUID, batch: Batch, found: dict[str, Any], keys: list[str]) -> Outcome:
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterKey

    outcome = Outcome(batch.number)
    artifacts = client.read_artifacts(artifact_filter=ArtifactFilter(
        flow_run_id=ArtifactFilterFlowRunId(any_=[run_id]), key=ArtifactFilterKey(any_=[FAILURES_KEY])))
    for artifact in artifacts:
        import json

        table = artifact.data if isinstance(artifact.data, list) else json.loads(artifact.data)
        for row in table:
            outcome.errors[int(row["position"])] = (row["error_type"], row["message"])
    outcome.stored = []
    for position, key in enumerate(keys):
        result = found.get(key)
        outcome.stored.append(result)
        if result is None and position not in outcome.errors:
            outcome.errors[position] = ("MissingResult", f"flow run {run_id} completed but stored no result for this point")
    return outcome
