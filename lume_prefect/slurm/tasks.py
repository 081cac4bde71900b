"""Prefect tasks of the Slurm service: a job, a shell command, a Python call, or a mapped call as one job array.

Each takes a ``SlurmCluster`` or the name of a saved one. Python calls travel through the
cluster's shared working directory (cloudpickle), so the cluster's ``python`` needs
lume-prefect installed (by default, for ``local`` and ``subprocess``, this very interpreter). A cluster with ``transport="subprocess"`` runs the very same
scripts on this machine without Slurm.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Optional

import cloudpickle
from prefect import get_run_logger, task
from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.cache_policies import NO_CACHE
from prefect.context import FlowRunContext, TaskRunContext

from lume_prefect.core.resolve import resolve
from lume_prefect.slurm.blocks import SlurmCluster
from lume_prefect.slurm.control import JobResult, ProgressCallback, SlurmController, SubmittedJob
from lume_prefect.slurm.errors import ItemsFailed, JobFailed, RemoteTaskError
from lume_prefect.slurm.job import SlurmJob
from lume_prefect.slurm.runner import read_outcomes


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
        if TaskRunContext.get() is None and FlowRunContext.get() is None:
            return  # called as a plain function (``.fn``): no run to show it on
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
    with Slurm's state and reason (TIMEOUT, OUT_OF_MEMORY, NODE_FAIL, ...). If the task times
    out, is cancelled or its process is stopped, the job is cancelled.
    """
    cluster = resolve_cluster(cluster)
    control = cluster.controller()
    results = _submit_and_wait(control, job)
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


def batches(count: int, items_per_job: int) -> list[range]:
    """Item indices of each job (array element): consecutive runs of ``items_per_job``."""
    return [range(start, min(start + items_per_job, count)) for start in range(0, count, items_per_job)]


#: Most elements an automatic choice makes: Slurm's default MaxArraySize (1001) allows indices 0-1000.
MAX_AUTO_ELEMENTS = 1000


def choose_items_per_job(count: int, slots: Optional[int], max_running: Optional[int] = None) -> int:
    """Items per array element when the caller gives none: one element per free slot of the
    cluster (never more elements than items, nor than ``MAX_AUTO_ELEMENTS``), so each element's
    start-up is paid once per slot."""
    jobs = min(max(1, slots or 1), MAX_AUTO_ELEMENTS)
    if max_running:
        jobs = min(jobs, max_running)
    jobs = min(jobs, count)
    return -(-count // jobs)


def _cancel_on_exit(control: SlurmController, submitted: SubmittedJob) -> None:
    try:
        control.cancel(submitted)
    except Exception as exc:  # noqa: BLE001 - the original interruption is what the caller must see
        print(f"lume-prefect: could not cancel Slurm job {submitted.job_id}: {exc}", file=sys.stderr)


# Jobs being waited for, in any thread of this process: a SIGTERM that ends the process
# (Prefect's flow engine re-sends it to the default handler after recording the crash) cancels
# them first, including those of tasks waiting in worker threads, which never see the signal.
_ACTIVE: dict[int, tuple[SlurmController, SubmittedJob]] = {}
_ACTIVE_LOCK = threading.RLock()  # re-entrant: the signal handler runs on the main thread


def _cancel_active_then_terminate(signum: int, frame: Any) -> None:
    with _ACTIVE_LOCK:
        active = list(_ACTIVE.values())
        _ACTIVE.clear()
    for control, submitted in active:
        _cancel_on_exit(control, submitted)
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def _task_runner_cancel_signal() -> Optional[Callable[[], bool]]:
    """The task run's "cancelled" check, when it runs in a task runner's thread.

    A flow that ends (SIGTERM, Ctrl-C, cancellation) sets each running task's cancel event in
    Prefect's ThreadPoolTaskRunner, then waits for the threads; a waiting task must notice it and
    stop. Prefect hands the event only to its task engine, which is on this thread's stack."""
    frame = sys._getframe(1)
    while frame is not None:
        engine = frame.f_locals.get("self")
        if type(engine).__name__.endswith("TaskRunEngine") and callable(getattr(engine, "is_cancelled", None)):
            return engine.is_cancelled
        frame = frame.f_back
    return None


def _install_termination_hook() -> None:
    """Put the hook under whatever handles SIGTERM later (Prefect's flow engine installs its own
    for a flow's duration and hands the signal back to the previous handler: this one)."""
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _cancel_active_then_terminate)


_install_termination_hook()


def _submit_and_wait(control: SlurmController, job: SlurmJob, done: Optional[Callable[[SubmittedJob], bool]] = None) -> list[JobResult]:
    """Submit ``job`` and wait for it; whatever ends the wait early (a timeout, a cancelled or
    interrupted flow, SIGTERM, the interpreter shutting down) cancels the job before it propagates."""
    _install_termination_hook()
    submitted = control.submit(job)
    with _ACTIVE_LOCK:
        _ACTIVE[id(submitted)] = (control, submitted)
    try:
        return control.wait(submitted, on_progress=progress_artifact(submitted), stop=_task_runner_cancel_signal(),
                            done=None if done is None else lambda: done(submitted))
    except BaseException:
        _cancel_on_exit(control, submitted)
        raise
    finally:
        with _ACTIVE_LOCK:
            _ACTIVE.pop(id(submitted), None)


def _call_as_jobs(cluster: SlurmCluster, function: Callable[..., Any], calls: Sequence[tuple[tuple, dict]],
                  job: SlurmJob | dict[str, Any] | None, items_per_job: int = 1, max_running: Optional[int] = None,
                  ) -> tuple[list[Any], dict[int, BaseException]]:
    """Run the calls as one job (or one array of ``ceil(len(calls) / items_per_job)`` elements);
    each call's value in order, and the exceptions of the calls that failed, by index.

    Whatever ends the wait early (a timeout, a cancelled or interrupted flow, SIGTERM, the
    interpreter shutting down) cancels the job before it propagates."""
    function = getattr(function, "fn", function)  # a Prefect task runs as its function inside the job
    name = getattr(function, "__name__", "call").strip("_") or "call"
    directory = f"{cluster.working_dir}/.lume-slurm/tasks/{name}-{uuid.uuid4().hex[:10]}"
    control = cluster.controller()
    groups = batches(len(calls), items_per_job)
    control.backend.write_bytes(f"{directory}/function.pkl", _pickle_function(function))
    for element, group in enumerate(groups):
        control.backend.write_bytes(f"{directory}/batch-{element}.pkl",
                                    cloudpickle.dumps([(index, *calls[index]) for index in group]))
    spec = _job_from(job, command=[cluster.job_python, "-m", "lume_prefect.slurm.runner", directory])
    if spec.name == "lume-job":
        spec = spec.model_copy(update={"name": f"lume-{name}"[:128]})
    if len(groups) > 1 or max_running or spec.array is not None:
        spec = spec.model_copy(update={"array": f"0-{len(groups) - 1}" + (f"%{max_running}" if max_running else "")})
    spec = SlurmJob.model_validate(spec.model_dump())
    # Every element renames its result file when its batch is done: seeing them all ends the
    # wait without waiting for the scheduler's next poll to report the elements COMPLETED.
    elements = len(groups)
    results = _submit_and_wait(control, spec, done=lambda submitted: len(
        control.backend.find_files(directory, ["result-*.pkl"])) == elements)
    values: list[Any] = [None] * len(calls)
    failed: dict[int, BaseException] = {}
    for element, (group, result) in enumerate(zip(groups, results)):
        raw = control.backend.read_bytes(f"{directory}/result-{element}.pkl")
        if raw is None:  # Slurm ended the element (TIMEOUT, NODE_FAIL...) before its batch was done
            raw = control.backend.read_bytes(f"{directory}/result-{element}.pkl.partial") or b""
        done = set()
        for index, outcome in read_outcomes(raw):
            if index is None:  # the element could not even load its batch
                break
            done.add(index)
            if outcome[0] == "ok":
                values[index] = outcome[1]
                continue
            _, exc, text = outcome
            if not isinstance(exc, BaseException):
                exc = RemoteTaskError(f"{name} failed in Slurm job {result.status.job_id}:\n{text}")
            else:
                exc.add_note(f"raised in Slurm job {result.status.job_id} (item {index}):\n{text}")
            failed[index] = exc
        for index in group:
            if index not in done:
                failed[index] = _why_no_result(name, result, raw)
    return values, failed


def _why_no_result(name: str, result: JobResult, raw: bytes) -> BaseException:
    for index, outcome in read_outcomes(raw):
        if index is None and isinstance(outcome[1], BaseException):
            outcome[1].add_note(f"raised in Slurm job {result.status.job_id} while loading the call:\n{outcome[2]}")
            return outcome[1]
    if not result.succeeded:
        status = result.status
        return JobFailed(status.job_id, status.state, f"{status.detail()}; stderr: {result.stderr.strip()[-2000:]}", result.exit_code)
    return RemoteTaskError(f"{name} in Slurm job {result.status.job_id} wrote no result; stderr: {result.stderr.strip()[-2000:]}")


@task(name="slurm-call", cache_policy=NO_CACHE, task_run_name="{function.__name__} on slurm")
def run_task_as_job(cluster: SlurmCluster | str, function: Callable[..., Any], args: Sequence[Any] = (),
                    kwargs: Optional[dict[str, Any]] = None, job: SlurmJob | dict[str, Any] | None = None) -> Any:
    """Run ``function(*args, **kwargs)`` (a Prefect task or a plain function) as one Slurm job; its return value.

    ``job`` is a SlurmJob or a dict of its resource options (partition, time_limit, cpus_per_task, ...).
    An exception raised in the job is raised here, with the remote traceback as a note (an
    exception that cannot be pickled arrives as a ``RemoteError`` with its type, message and
    traceback). If the task times out, is cancelled or its process is stopped, the job is cancelled.

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
    values, failed = _call_as_jobs(resolve_cluster(cluster), function, [(tuple(args), dict(kwargs or {}))], job)
    if failed:
        raise failed[0]
    return values[0]


@task(name="slurm-map", cache_policy=NO_CACHE, task_run_name="{function.__name__} mapped on slurm")
def map_task_as_array(cluster: SlurmCluster | str, function: Callable[..., Any], items: Iterable[Any],
                      job: SlurmJob | dict[str, Any] | None = None, max_running: Optional[int] = None,
                      items_per_job: Optional[int] = None) -> list[Any]:
    """Call ``function(item)`` for each item as the elements of **one** Slurm job array; the values in order.

    Each array element runs ``items_per_job`` consecutive items in one Python process, so the
    start-up of an element is paid once per batch, not once per item. By default the items are
    spread over one element per free slot of the cluster (``sinfo``'s idle CPUs, times the
    partition's oversubscription), at most one element per item; ``items_per_job=1`` gives one
    element per item. ``max_running`` caps how many elements run at once (``--array=0-N%max_running``).

    If some items raise, the others still run and ``ItemsFailed`` is raised: ``failed`` maps each
    failed item's index to its exception and ``results`` keeps every value in order. If the task
    times out, is cancelled or its process is stopped, the whole array is cancelled.
    """
    calls = [((item,), {}) for item in items]
    if not calls:
        return []
    if items_per_job is not None and (isinstance(items_per_job, bool) or not isinstance(items_per_job, int) or items_per_job < 1):
        raise ValueError(f"items_per_job {items_per_job!r} must be a whole number of items, at least 1")
    if max_running is not None and (isinstance(max_running, bool) or not isinstance(max_running, int) or max_running < 1):
        raise ValueError(f"max_running {max_running!r} must be a whole number of elements, at least 1")
    cluster = resolve_cluster(cluster)
    if items_per_job is None:
        partition = (job.partition if isinstance(job, SlurmJob) else (job or {}).get("partition")) or cluster.partition
        items_per_job = choose_items_per_job(len(calls), cluster.controller().backend.free_slots(partition), max_running)
    function = getattr(function, "fn", function)
    values, failed = _call_as_jobs(cluster, function, calls, job, items_per_job=items_per_job, max_running=max_running)
    if failed:
        results = [failed.get(index, value) for index, value in enumerate(values)]
        raise ItemsFailed(getattr(function, "__name__", "call"), failed, results) from failed[min(failed)]
    return values
