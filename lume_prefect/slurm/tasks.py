"""Prefect tasks of the Slurm service: a job, a shell command, a Python call, or a mapped call as one job array.

Each takes a ``SlurmCluster`` or the name of a saved one. Python calls travel through the
cluster's shared working directory (cloudpickle), so the cluster's ``python`` needs
lume-prefect installed. A cluster with ``transport="subprocess"`` runs the very same
scripts on this machine without Slurm.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Optional

import cloudpickle
from prefect import get_run_logger, task
from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.cache_policies import NO_CACHE

from lume_prefect.core.resolve import resolve
from lume_prefect.slurm.blocks import SlurmCluster
from lume_prefect.slurm.control import JobResult, ProgressCallback, SubmittedJob
from lume_prefect.slurm.errors import JobFailed, RemoteTaskError
from lume_prefect.slurm.job import SlurmJob


def resolve_cluster(cluster: SlurmCluster | str | None = None) -> SlurmCluster:
    """A SlurmCluster, the saved one of that name, or (None) the current services' cluster
    (see ``lume_prefect.core.resolve``)."""
    return resolve(cluster, "slurm")


def _job_from(job: SlurmJob | dict[str, Any] | None, **program: Any) -> SlurmJob:
    if isinstance(job, SlurmJob):
        return job.model_copy(update={"command": None, "script": None, **program})
    return SlurmJob(**{**(job or {}), **program})


def progress_artifact(job: SubmittedJob) -> ProgressCallback:
    """An ``on_progress`` callback that shows a long wait as a Prefect progress artifact of the
    current task run (created on the first report, then updated): the UI's progress display."""
    artifact: dict[str, Any] = {}

    def report(done: int, total: int, counts: dict[str, int]) -> None:
        states = ", ".join(f"{n} {state.lower()}" for state, n in sorted(counts.items()))
        description = f"Slurm job {job.job_id} ({job.name}): {done}/{total} finished; {states}"
        percent = 100.0 * done / total if total else 100.0
        try:
            if "id" not in artifact:
                artifact["id"] = create_progress_artifact(percent, description=description, _sync=True)  # type: ignore[call-arg]
            else:
                update_progress_artifact(artifact["id"], percent, description=description, _sync=True)  # type: ignore[call-arg]
        except Exception as exc:  # noqa: BLE001 - a display must not fail the job it displays
            if not artifact.get("warned"):
                artifact["warned"] = True
                get_run_logger().warning(f"Could not show the progress of Slurm job {job.job_id}: {exc}")

    return report


@task(name="slurm-job", cache_policy=NO_CACHE, task_run_name="slurm job {job.name}")
def run_job(cluster: SlurmCluster | str, job: SlurmJob, raise_on_failure: bool = True) -> list[JobResult]:
    """Submit ``job``, wait for it, and return each element's state, exit code and output.

    Unless ``raise_on_failure=False``, an element that did not complete raises ``JobFailed``
    with Slurm's state and reason (TIMEOUT, OUT_OF_MEMORY, NODE_FAIL, ...).
    """
    cluster = resolve_cluster(cluster)
    submitted = cluster.submit(job, _sync=True)
    results = cluster.controller().wait(submitted, on_progress=progress_artifact(submitted))
    if raise_on_failure:
        for result in results:
            result.raise_for_state()
    return results


@task(name="slurm-shell", cache_policy=NO_CACHE)
def run_shell_job(cluster: SlurmCluster | str, command: str, job: SlurmJob | dict[str, Any] | None = None,
                  env: Optional[dict[str, str]] = None) -> list[str]:
    """Run shell ``command`` as a Slurm job, like prefect-shell's ``shell_run_command``: the
    lines of its stdout, or ``JobFailed`` (with stderr) when it exits non-zero or Slurm ends it."""
    spec = _job_from(job, script=command)
    if env:
        spec = spec.model_copy(update={"environment": {**spec.environment, **env}})
    [result] = run_job.fn(cluster, SlurmJob.model_validate(spec.model_dump()), raise_on_failure=False)
    if not result.succeeded:
        raise JobFailed(result.status.job_id, result.status.state,
                        f"{result.status.detail()}; stderr: {result.stderr.strip()[-2000:]}", result.exit_code)
    return result.stdout.splitlines()


def _pickle_function(function: Callable[..., Any]) -> bytes:
    # Functions from the user's own modules (not installed on the nodes) travel by value.
    module = sys.modules.get(getattr(function, "__module__", "") or "")
    by_value = module is not None and module.__name__ != "__main__" and "site-packages" not in (getattr(module, "__file__", "") or "")
    if by_value:
        cloudpickle.register_pickle_by_value(module)
    try:
        return cloudpickle.dumps(function)
    finally:
        if by_value:
            cloudpickle.unregister_pickle_by_value(module)


def _call_as_jobs(cluster: SlurmCluster, function: Callable[..., Any], calls: Sequence[tuple[tuple, dict]],
                  job: SlurmJob | dict[str, Any] | None) -> list[Any]:
    function = getattr(function, "fn", function)  # a Prefect task runs as its function inside the job
    name = getattr(function, "__name__", "call").strip("_") or "call"
    directory = f"{cluster.working_dir}/.lume-slurm/tasks/{name}-{uuid.uuid4().hex[:10]}"
    control = cluster.controller()
    control.backend.write_bytes(f"{directory}/function.pkl", _pickle_function(function))
    for index, call in enumerate(calls):
        control.backend.write_bytes(f"{directory}/args-{index}.pkl", cloudpickle.dumps(call))
    spec = _job_from(job, command=[cluster.python, "-m", "lume_prefect.slurm.runner", directory])
    if spec.name == "lume-job":
        spec = spec.model_copy(update={"name": f"lume-{name}"[:128]})
    if spec.array is None and len(calls) > 1:
        spec = spec.model_copy(update={"array": f"0-{len(calls) - 1}"})
    spec = SlurmJob.model_validate(spec.model_dump())
    submitted = control.submit(spec)
    results = control.wait(submitted, on_progress=progress_artifact(submitted))
    values = []
    for index, result in enumerate(results):
        raw = control.backend.read_bytes(f"{directory}/result-{index}.pkl")
        if raw is None:
            result.raise_for_state()  # Slurm ended it (TIMEOUT, NODE_FAIL...) before it wrote a result
            raise RemoteTaskError(f"{name} in Slurm job {result.status.job_id} wrote no result; stderr: {result.stderr.strip()[-2000:]}")
        outcome = cloudpickle.loads(raw)
        if outcome[0] == "error":
            _, exc, text = outcome
            if isinstance(exc, Exception):
                exc.add_note(f"raised in Slurm job {result.status.job_id}:\n{text}")
                raise exc
            raise RemoteTaskError(f"{name} failed in Slurm job {result.status.job_id}:\n{text}")
        values.append(outcome[1])
    return values


@task(name="slurm-call", cache_policy=NO_CACHE, task_run_name="{function.__name__} on slurm")
def run_task_as_job(cluster: SlurmCluster | str, function: Callable[..., Any], args: Sequence[Any] = (),
                    kwargs: Optional[dict[str, Any]] = None, job: SlurmJob | dict[str, Any] | None = None) -> Any:
    """Run ``function(*args, **kwargs)`` (a Prefect task or a plain function) as one Slurm job; its return value.

    ``job`` is a SlurmJob or a dict of its resource options (partition, time_limit, cpus_per_task, ...).
    An exception raised in the job is raised here, with the remote traceback as a note.

    Examples:
        ```python
        from prefect import flow, task
        from lume_prefect.slurm import run_task_as_job

        @task
        def simulate(charge: float) -> float:
            return charge * 2

        @flow
        def scan():
            return run_task_as_job("hpc", simulate, args=[1.0], job={"cpus_per_task": 4, "time_limit": "00:10:00"})
        ```
    """
    [value] = _call_as_jobs(resolve_cluster(cluster), function, [(tuple(args), dict(kwargs or {}))], job)
    return value


@task(name="slurm-map", cache_policy=NO_CACHE, task_run_name="{function.__name__} mapped on slurm")
def map_task_as_array(cluster: SlurmCluster | str, function: Callable[..., Any], items: Iterable[Any],
                      job: SlurmJob | dict[str, Any] | None = None, max_running: Optional[int] = None) -> list[Any]:
    """Call ``function(item)`` for each item as the elements of **one** Slurm job array; the values in order.

    ``max_running`` caps how many elements run at once (``--array=0-N%max_running``).
    """
    calls = [((item,), {}) for item in items]
    if not calls:
        return []
    spec = _job_from(job, command=["true"])
    if max_running:
        spec = spec.model_copy(update={"array": f"0-{len(calls) - 1}%{max_running}"})
    elif len(calls) == 1:
        spec = spec.model_copy(update={"array": "0"})
    return _call_as_jobs(resolve_cluster(cluster), function, calls, spec)
