"""Stopping a flow stops its Slurm jobs: a task or flow that times out, a flow process that gets
SIGTERM or SIGINT (whether the task runs in the flow's thread or in a task-runner thread), and a
flow run cancelled from Prefect through a real process worker, each leave no element running."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid

import pytest
from prefect import flow

from lume_prefect.slurm import SlurmCluster, map_task_as_array
from tests.components import prefect_api_at, venv_script
from tests.slurm.conftest import stop

pytestmark = [pytest.mark.slow, pytest.mark.prefect, pytest.mark.usefixtures("slurm"), pytest.mark.timeout(240)]

ACTIVE = ("PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED")


def elements(name: str) -> dict[str, str]:
    """State of every element of the jobs called ``name`` (squeue, all states)."""
    out = subprocess.run(["squeue", "-h", "-r", "-t", "all", "-n", name, "-o", "%i|%T"], capture_output=True, text=True).stdout
    return dict(line.split("|", 1) for line in out.splitlines() if "|" in line)


def wait_until(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"{what} not reached after {timeout} s")


def all_stopped(name: str, count: int) -> dict[str, str]:
    """Every element ended CANCELLED within 15 s (none still running, none completed)."""
    states = wait_until(lambda: (s := elements(name)) and len(s) == count and not any(v in ACTIVE for v in s.values()) and s, 15,
                        f"all {count} elements of {name} ended")
    assert set(states.values()) == {"CANCELLED"}, states
    return states


def nap(x: int) -> int:
    time.sleep(300)
    return x


@pytest.mark.parametrize("scope", ["task", "flow"])
def test_a_timeout_cancels_the_array(workdir, scope):
    cluster = SlurmCluster(working_dir=workdir, max_poll_interval=0.5)
    name = f"timeout-{uuid.uuid4().hex[:8]}"
    mapper = map_task_as_array.with_options(timeout_seconds=5) if scope == "task" else map_task_as_array

    @flow(timeout_seconds=5 if scope == "flow" else None)
    def scan():
        return mapper(cluster, nap, [1, 2, 3], items_per_job=1, job={"name": name})

    started = time.monotonic()
    with pytest.raises(Exception, match="(?i)timed out|timeout"):
        scan()
    assert time.monotonic() - started < 60
    all_stopped(name, 3)


def test_a_timed_out_shell_job_is_cancelled(workdir):
    from lume_prefect.slurm import run_shell_job

    cluster = SlurmCluster(working_dir=workdir, max_poll_interval=0.5)
    name = f"shell-timeout-{uuid.uuid4().hex[:8]}"

    @flow
    def shell():
        return run_shell_job.with_options(timeout_seconds=5)(cluster, "sleep 300", job={"name": name})

    with pytest.raises(Exception, match="(?i)timed out|timeout"):
        shell()
    all_stopped(name, 1)


SCRIPT = '''
import sys, time
from prefect import flow
from lume_prefect.slurm import SlurmCluster, map_task_as_array


def nap(x):
    time.sleep(300)
    return x


@flow
def scan(workdir: str, name: str, mode: str):
    cluster = SlurmCluster(working_dir=workdir, max_poll_interval=0.5)
    if mode == "thread":  # the task runs in the task runner's thread, not the flow's
        return map_task_as_array.submit(cluster, nap, [1, 2, 3], items_per_job=1, job={"name": name}).result()
    return map_task_as_array(cluster, nap, [1, 2, 3], items_per_job=1, job={"name": name})


scan(*sys.argv[1:4])
'''


@pytest.mark.parametrize("sig, mode", [(signal.SIGTERM, "inline"), (signal.SIGTERM, "thread"), (signal.SIGINT, "inline"), (signal.SIGINT, "thread")])
def test_a_stopped_flow_process_cancels_the_array(workdir, tmp_path, sig, mode):
    from prefect.settings import PREFECT_API_URL

    (tmp_path / "scan.py").write_text(SCRIPT)
    name = f"{sig.name.lower()}-{mode}-{uuid.uuid4().hex[:6]}"
    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value()}
    # A shell's background job (CI may run this way) starts with SIGINT ignored, and a child
    # inherits that: give the flow process the default disposition a terminal user's has.
    process = subprocess.Popen([sys.executable, str(tmp_path / "scan.py"), workdir, name, mode], env=env,
                               stdout=subprocess.DEVNULL, stderr=open(tmp_path / "err.log", "wb"),
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        wait_until(lambda: list(elements(name).values()) == ["RUNNING"] * 3, 90, f"three RUNNING elements of {name}")
        process.send_signal(sig)
        process.wait(timeout=60)
        assert process.returncode != 0
        all_stopped(name, 3)
    finally:
        stop(process, signal.SIGKILL)
        subprocess.run(["scancel", "-n", name], check=False)


FLOW_SOURCE = '''
import time
from prefect import flow
from lume_prefect.slurm import SlurmCluster, map_task_as_array


def nap(x):
    time.sleep(300)
    return x


@flow
def mapped_naps(workdir: str, name: str):
    cluster = SlurmCluster(working_dir=workdir, max_poll_interval=0.5)
    return map_task_as_array(cluster, nap, [1, 2, 3], items_per_job=1, job={"name": name})
'''


def test_a_flow_run_cancelled_from_prefect_cancels_the_array(prefect_server, workdir, tmp_path):
    """A deployment on a real process worker: Cancel in Prefect makes the worker stop the flow's
    process, and the flow's array goes with it."""
    import asyncio

    from prefect import Flow
    from prefect.client.orchestration import get_client
    from prefect.states import Cancelling

    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "naps.py").write_text(FLOW_SOURCE)
    pool, name = f"proc-{uuid.uuid4().hex[:6]}", f"cancelled-{uuid.uuid4().hex[:6]}"
    created = subprocess.run([venv_script("prefect"), "work-pool", "create", pool, "--type", "process"],
                             env=prefect_server.env, capture_output=True, text=True, timeout=120)
    assert created.returncode == 0, created.stdout + created.stderr
    worker = subprocess.Popen([venv_script("prefect"), "worker", "start", "--pool", pool, "--type", "process"],
                              env={**prefect_server.env, "PREFECT_WORKER_QUERY_SECONDS": "1"},
                              stdout=open(tmp_path / "worker.log", "wb"), stderr=subprocess.STDOUT, start_new_session=True)
    try:
        with prefect_api_at(prefect_server.api_url):
            deployment_id = Flow.from_source(source=str(tmp_path / "flows"), entrypoint="naps.py:mapped_naps").deploy(
                name="naps", work_pool_name=pool, print_next_steps=False)

            async def run_and_cancel():
                async with get_client() as client:
                    run = await client.create_flow_run_from_deployment(deployment_id, parameters={"workdir": workdir, "name": name})
                    await asyncio.to_thread(wait_until, lambda: list(elements(name).values()) == ["RUNNING"] * 3, 120,
                                            f"three RUNNING elements of {name}")
                    await client.set_flow_run_state(run.id, Cancelling(), force=True)
                    for _ in range(120):
                        state = (await client.read_flow_run(run.id)).state
                        if state.is_final():
                            return state
                        await asyncio.sleep(0.5)
                    return state

            state = asyncio.run(run_and_cancel())
        all_stopped(name, 3)
        assert state.is_cancelled() or state.is_crashed(), state
    finally:
        stop(worker, signal.SIGINT)
        subprocess.run(["scancel", "-n", name], check=False)
