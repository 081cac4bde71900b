"""``lume-prefect slurm``: submit, follow, cancel and read Slurm jobs through a saved SlurmCluster block.

Each command runs in a new process, so the block's controller knows no job yet. A job is
addressed by its id: its output files are found under the block's ``working_dir``
(``.lume-slurm/NAME-UUID.JOBID.out``, written by every job the block submits), which gives
the controller back the job's output prefix and its element keys. Nothing else is recorded.
"""

from __future__ import annotations

import re
import time
from typing import Annotated, Optional

from cyclopts import App, Parameter

from lume_prefect.cli.output import console, fail, print_json, print_table
from lume_prefect.slurm.states import FINAL_STATES

LIMITS = (
    "Jobs are addressed by id. Exit codes and output are found only for jobs the block submitted "
    "(e.g. with 'slurm submit') into its working_dir; other jobs show Slurm's state while Slurm "
    "still lists them. An array job's elements appear once they have started."
)

app = App(name="slurm", help="Slurm jobs through a saved SlurmCluster block (by name). " + LIMITS)

_JOB_ID = re.compile(r"[0-9]+")


Cluster = Annotated[str, Parameter(help="Saved SlurmCluster block name.")]


def _cluster(name: str):
    from lume_prefect.core.resolve import resolve

    try:
        return resolve(name, "slurm")
    except Exception as exc:  # unknown block, wrong type, unreachable API
        fail(f"cannot load SlurmCluster block {name!r}: {_message(exc)}")


def _message(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _check_ids(job_ids: tuple[str, ...] | list[str]) -> list[str]:
    if not job_ids:
        fail("give at least one job id")
    for job_id in job_ids:
        if not _JOB_ID.fullmatch(job_id):
            fail(f"job id {job_id!r} is not a Slurm job id (digits only)")
    return list(job_ids)


def _row(status) -> dict:
    return {"job": status.job_id, "state": status.state, "reason": status.reason, "exit_code": status.exit_code}


def _show(rows: list[dict], json: bool, title: str) -> None:
    if json:
        print_json(rows)
    else:
        print_table(title, ["job", "state", "reason", "exit code"], [(r["job"], r["state"], r["reason"], r["exit_code"]) for r in rows])


@app.command(name="submit")
def submit(
    cluster: Cluster,
    *command: str,
    script: Optional[str] = None,
    name: str = "lume-cli",
    partition: Optional[str] = None,
    time: Annotated[Optional[str], Parameter(name="--time")] = None,
    cpus: Optional[int] = None,
    memory: Optional[str] = None,
    array: Optional[str] = None,
    json: bool = False,
) -> None:
    """Submit COMMAND (after --) or --script shell code as a job on CLUSTER; prints the job id.

    Example: lume-prefect slurm submit hpc --time 10 -- python simulate.py --steps 100

    Parameters
    ----------
    command
        Command and its arguments, after --.
    script
        Shell code to run instead of COMMAND.
    name
        Job name.
    partition
        Slurm partition (default: the block's).
    time
        Time limit, e.g. 10 (minutes), 1:30:00 or 2-00:00:00.
    cpus
        CPUs per task.
    memory
        Memory per node, e.g. 4G.
    array
        Job array indices, e.g. 0-9 or 1,3,5.
    json
        Print the job id, name and output files as JSON.
    """
    from pydantic import ValidationError

    from lume_prefect.slurm import SlurmJob
    from lume_prefect.slurm.errors import SlurmError

    if bool(command) == bool(script):
        fail("give either a command (after --) or --script, not both or neither")
    try:
        job = SlurmJob(name=name, partition=partition, time_limit=time, cpus_per_task=cpus, memory=memory, array=array,
                       command=list(command) if command else None, script=script)
    except ValidationError as exc:
        fail("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()))
    block = _cluster(cluster)
    try:
        submitted = block.submit(job, _sync=True)
    except (SlurmError, OSError, ValueError) as exc:
        fail(f"submitting to SlurmCluster {cluster!r}: {_message(exc)}")
    if json:
        print_json({"job_id": submitted.job_id, "name": submitted.name, "keys": submitted.keys, "output_prefix": submitted.output_prefix})
    else:
        console.print(submitted.job_id, highlight=False)


@app.command(name="status")
def status(cluster: Cluster, *job_ids: str, json: bool = False) -> None:
    """State, reason and exit code of each JOB_ID (each array element), from one scheduler call.

    Exit codes come from the files jobs submitted through the block write under its working_dir;
    other jobs show Slurm's state while Slurm still lists them. Array elements appear once started.

    Parameters
    ----------
    job_ids
        Job ids (an array's id shows every element).
    json
        Print JSON instead of a table.
    """
    from lume_prefect.slurm.errors import SlurmError

    ids = _check_ids(job_ids)
    block = _cluster(cluster)
    control = block.controller()
    try:
        jobs = [(control.find_job(job_id), job_id) for job_id in ids]
        jobs = [(job or control.job_by_id(job_id), job is not None) for job, job_id in jobs]
        for job, _ in jobs:
            control.track(job)
        statuses = control.poll()  # one scheduler call for every job
    except (SlurmError, OSError) as exc:
        fail(f"status from SlurmCluster {cluster!r}: {_message(exc)}")
    rows = []
    for job, found in jobs:
        for key in job.keys:
            if key in statuses:
                rows.append(_row(statuses[key]))
            elif found:
                # It started (it has output) but Slurm no longer lists it and it left no exit code.
                rows.append({"job": key, "state": "UNKNOWN", "reason": "no longer listed by Slurm; no exit-code file", "exit_code": None})
            else:
                fail(f"job {job.job_id} is unknown to Slurm and has no output under {block.working_dir} (a pending array job shows once its elements start)")
    _show(rows, json, f"Slurm jobs on {cluster}")


@app.command(name="wait")
def wait(cluster: Cluster, job_id: str, *, timeout: Optional[float] = None, json: bool = False) -> None:
    """Wait until JOB_ID ends; print its final state(s). Exit code 0 if every element COMPLETED, else 1.

    Parameters
    ----------
    job_id
        Job id.
    timeout
        Give up after this many seconds.
    json
        Print JSON instead of a table.
    """
    from lume_prefect.slurm.control import NOT_LISTED
    from lume_prefect.slurm.errors import SlurmError

    _check_ids([job_id])
    block = _cluster(cluster)
    control = block.controller()
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        job = control.find_job(job_id)
        # A pending job has no output file yet: follow Slurm's state until it starts (or ends).
        while job is None:
            placeholder = control.job_by_id(job_id)
            [current] = control.status(placeholder)
            control.forget(placeholder)
            if current.reason == NOT_LISTED:
                fail(f"job {job_id} is unknown to Slurm and has no output under {block.working_dir} (a pending array job shows once its elements start)")
            job = control.find_job(job_id)
            if job is None and current.is_final:
                job = placeholder  # ended without output: Slurm's state only
            elif job is None:
                if deadline is not None and time.monotonic() > deadline:
                    fail(f"job {job_id} not finished after {timeout} s")
                time.sleep(control.interval)
        results = block.wait(job, timeout=None if deadline is None else max(0.0, deadline - time.monotonic()), progress=False, _sync=True)
    except TimeoutError:
        fail(f"job {job_id} not finished after {timeout} s")
    except (SlurmError, OSError) as exc:
        fail(f"waiting for job {job_id} on SlurmCluster {cluster!r}: {_message(exc)}")
    _show([_row(result.status) for result in results], json, f"Slurm job {job_id} on {cluster}")
    if not all(result.status.state == "COMPLETED" for result in results):
        raise SystemExit(1)


@app.command(name="cancel")
def cancel(cluster: Cluster, *job_ids: str) -> None:
    """Cancel each JOB_ID (one squeue, then one scancel). Exit code 1 if Slurm does not know a JOB_ID;
    a job that had already ended is reported, not cancelled.

    Parameters
    ----------
    job_ids
        Job ids to cancel.
    """
    from lume_prefect.slurm.errors import SlurmError

    ids = _check_ids(job_ids)
    block = _cluster(cluster)
    control = block.controller()
    try:
        known = control.backend.query(ids)  # scancel says nothing about an id Slurm does not know
        states = {job_id: [s.state for key, s in known.items() if key.split("_")[0] == job_id] for job_id in ids}
        unknown = [job_id for job_id in ids if not states[job_id]]
        ended = {job_id: sorted(set(found)) for job_id, found in states.items() if found and all(s in FINAL_STATES for s in found)}
        active = [job_id for job_id in ids if job_id not in unknown and job_id not in ended]
        not_cancelled = control.cancel(*active) if active else {}
    except (SlurmError, OSError) as exc:
        fail(f"cancelling {' '.join(ids)} on SlurmCluster {cluster!r}: {_message(exc)}")
    for job_id, why in not_cancelled.items():
        (unknown.append(job_id) if why == "unknown" else ended.setdefault(job_id, ["ended"]))
    cancelled = [job_id for job_id in active if job_id not in not_cancelled]
    if cancelled:
        console.print(f"cancelled {' '.join(cancelled)}", highlight=False)
    for job_id, found in ended.items():
        console.print(f"job {job_id} had already ended ({', '.join(found)}): nothing to cancel", highlight=False)
    if unknown:
        fail(f"job {' '.join(unknown)} is unknown to Slurm on SlurmCluster {cluster!r}: nothing cancelled"
             + (" for it" if cancelled or ended else ""))


@app.command(name="output")
def output(cluster: Cluster, job_id: str, *, stderr: bool = False) -> None:
    """Print the collected stdout (or --stderr) of a finished JOB_ID (every array element, in order).

    Parameters
    ----------
    job_id
        Job id.
    stderr
        Print standard error instead of standard output.
    """
    import sys

    from lume_prefect.slurm.errors import SlurmError

    _check_ids([job_id])
    block = _cluster(cluster)
    control = block.controller()
    try:
        job = control.find_job(job_id)
        if job is None:
            fail(f"job {job_id} has no output under {block.working_dir} (not started, or not submitted by this block)")
        control.status(job)
        results = block.collect(job, _sync=True)
    except (SlurmError, OSError) as exc:
        fail(f"output of job {job_id} on SlurmCluster {cluster!r}: {_message(exc)}")
    for result in results:
        sys.stdout.write(result.stderr if stderr else result.stdout)
