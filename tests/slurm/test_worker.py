"""The ``lume-slurm`` worker type against a real Prefect server, real worker processes and real Slurm:
a deployment runs to COMPLETED; TIMEOUT, a killed slurmd, a killed worker and a cancel from
Prefect each end the way the issue asks."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.components import ROOT, prefect_api_at, venv_script
from tests.slurm.conftest import ensure_slurm_up, kill_processes_with_env, stop

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("slurm"), pytest.mark.timeout(240)]

FLOW_SOURCE = '''
import os
import time

from prefect import flow


@flow
def sleepy(seconds: float = 0.0, gate: str = "", hog_mb: int = 0) -> str:
    hog = bytearray(hog_mb * 1024 * 1024)  # zero-filled, so all of it is resident
    time.sleep(seconds)
    deadline = time.monotonic() + 300
    while gate and not os.path.exists(gate) and time.monotonic() < deadline:  # held until the test opens the gate
        time.sleep(0.2)
    return f"ran in slurm job {os.environ.get('SLURM_JOB_ID')}"
'''


def run_async(coroutine):
    return asyncio.run(coroutine)


def path_without_this_venv() -> str:
    """PATH as on a login node where this environment is not activated: jobs inherit the
    worker's environment, so a job finds Prefect only through the interpreter it runs (the block's
    ``python``, by default the worker's own)."""
    venv_bin = str(Path(sys.executable).parent)
    return os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep) if p and p != venv_bin)


class Worker:
    """``prefect worker start --type lume-slurm`` as a real process; its output goes to a file."""

    def __init__(self, server, pool: str, log: Path):
        self.log_path = log
        env = {**server.env, "PREFECT_WORKER_QUERY_SECONDS": "1", "PREFECT_WORKER_PREFETCH_SECONDS": "0", "PATH": path_without_this_venv()}
        self.process = subprocess.Popen(
            [venv_script("prefect"), "worker", "start", "--pool", pool, "--type", "lume-slurm", "--name", f"w-{uuid.uuid4().hex[:6]}"],
            env=env, stdout=open(log, "ab"), stderr=subprocess.STDOUT, start_new_session=True,
        )

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        stop(self.process, signal.SIGINT)


@pytest.fixture(scope="module")
def pool(prefect_server, tmp_path_factory):
    """A slurm work pool created from the committed template exactly as an operator would
    (``prefect work-pool create --base-job-template deployments/slurm.json``), then given
    pool-level defaults; its cluster block; and a deployment of ``sleepy`` with its own defaults."""
    from prefect import flow as _  # noqa: F401 - import Prefect before switching settings
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolUpdate

    from lume_prefect.slurm import SlurmCluster

    root = tmp_path_factory.mktemp("slurm-pool")
    os.chmod(root, 0o755)
    (root / "flows").mkdir()
    (root / "flows" / "sleepy.py").write_text(FLOW_SOURCE)
    (root / "work").mkdir()
    name = f"pool-{uuid.uuid4().hex[:6]}"
    created = subprocess.run([venv_script("prefect"), "work-pool", "create", name, "--type", "lume-slurm",
                              "--base-job-template", str(ROOT / "deployments" / "slurm.json")],
                             env=prefect_server.env, capture_output=True, text=True, timeout=120)
    assert created.returncode == 0, created.stdout + created.stderr
    template = json.loads((ROOT / "deployments" / "slurm.json").read_text())
    defaults = {"cluster": "test-cluster", "cancel_check_seconds": 1.0, "memory": "300M"}  # edited per pool
    for variable, value in defaults.items():
        template["variables"]["properties"][variable]["default"] = value
    with prefect_api_at(prefect_server.api_url):
        # As an operator saves it: no `python` (the worker's own interpreter runs the jobs) and no PATH line in `setup`.
        SlurmCluster(working_dir=str(root / "work"), max_poll_interval=1.0).save("test-cluster", overwrite=True)

        async def edit_pool():
            async with get_client() as client:
                await client.update_work_pool(name, WorkPoolUpdate(base_job_template=template))

        run_async(edit_pool())
        from prefect import Flow

        deployed = Flow.from_source(source=str(root / "flows"), entrypoint="sleepy.py:sleepy")
        deployment_id = deployed.deploy(name="on-slurm", work_pool_name=name, print_next_steps=False,
                                        job_variables={"time_limit": "00:05:00"})  # edited per deployment
    state = {"name": name, "server": prefect_server, "root": root, "deployment_id": deployment_id,
             "worker": Worker(prefect_server, name, root / "worker.log")}
    yield state
    state["worker"].stop()  # the current worker: a test may have replaced the first one


def start_run(pool, job_variables=None, **parameters):
    from prefect.client.orchestration import get_client

    async def create():
        async with get_client() as client:
            return await client.create_flow_run_from_deployment(pool["deployment_id"], parameters=parameters, job_variables=job_variables or {})

    with prefect_api_at(pool["server"].api_url):
        return run_async(create()).id


def read_run(pool, run_id):
    from prefect.client.orchestration import get_client

    async def read():
        async with get_client() as client:
            return await client.read_flow_run(run_id)

    with prefect_api_at(pool["server"].api_url):
        return run_async(read())


def wait_for(pool, run_id, predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = read_run(pool, run_id)
        if predicate(run):
            return run
        time.sleep(0.5)
    raise AssertionError(f"flow run never became {what}; last state {run.state and run.state.type} {run.state and run.state.message!r}; "
                         f"worker log tail: {pool['worker'].output()[-3000:]}")


def final(run) -> bool:
    return run.state is not None and run.state.is_final()


def running_job(pool, run_id, timeout: float = 60) -> str:
    run = wait_for(pool, run_id, lambda r: r.state is not None and r.state.is_running() and r.infrastructure_pid, timeout, "RUNNING")
    return run.infrastructure_pid.split("@")[0]


def squeue_state(job_id: str) -> str:
    out = subprocess.run(["squeue", "-h", "-t", "all", "-j", job_id, "-o", "%T"], capture_output=True, text=True).stdout
    return out.strip()


def test_deployment_runs_to_completed_as_a_slurm_job(pool):
    run_id = start_run(pool, job_variables={"cpus_per_task": 2})
    run = wait_for(pool, run_id, final, 120, "final")
    assert run.state.is_completed(), run.state.message
    job_id, prefix = run.infrastructure_pid.split("@")
    script = Path(prefix + ".sh").read_text()
    assert "#SBATCH --mem=300M" in script  # the pool's default
    assert "#SBATCH --time=00:05:00" in script  # the deployment's
    assert "#SBATCH --cpus-per-task=2" in script  # this run's
    assert f"#SBATCH --comment=prefect-flow-run={run_id}" in script and "#SBATCH --no-requeue" in script
    assert "#SBATCH --job-name=sleepy\n" in script  # named after the flow (a lume model's: the model), not the run
    # the worker's own interpreter (this venv's, whichever of its names started the worker), not a PATH line
    [python] = re.findall(r"^(\S+) -m prefect flow-run execute", script, re.MULTILINE)
    assert os.path.samefile(python, sys.executable) and "export PATH" not in script
    deadline = time.monotonic() + 30  # the run reports COMPLETED just before its process exits
    while squeue_state(job_id) != "COMPLETED" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert squeue_state(job_id) == "COMPLETED"


def test_a_picked_cluster_block_is_read_for_every_run_so_edits_need_no_restart(pool):
    """The pool's ``cluster`` variable is a typed block reference (the UI's block picker stores
    ``{"$ref": {"block_document_id": ...}}``); editing the block changes the next run's job."""

    from lume_prefect.slurm import SlurmCluster

    with prefect_api_at(pool["server"].api_url):
        block = SlurmCluster(working_dir=str(pool["root"] / "work"), max_poll_interval=1.0,
                             setup=["export LUME_EDITION=first"])
        block_id = block.save("picked-cluster", overwrite=True)
    picked = {"cluster": {"$ref": {"block_document_id": str(block_id)}}}
    scripts = []
    for edition in ("first", "second"):
        if edition == "second":
            with prefect_api_at(pool["server"].api_url):
                edited = SlurmCluster.load("picked-cluster")
                edited.setup = ["export LUME_EDITION=second"]
                assert edited.save("picked-cluster", overwrite=True) == block_id  # the same block document, edited
        run = wait_for(pool, start_run(pool, job_variables=picked), final, 120, "final")
        assert run.state.is_completed(), run.state.message
        scripts.append(Path(run.infrastructure_pid.split("@")[1] + ".sh").read_text())
    assert "export LUME_EDITION=first" in scripts[0] and "export LUME_EDITION=second" in scripts[1]
    assert pool["worker"].process.poll() is None  # one worker process served both runs


def test_injection_through_job_variables_is_refused_naming_the_field(pool):
    marker = pool["root"] / "pwned"
    run_id = start_run(pool, job_variables={"partition": f"debug; touch {marker}"})
    run = wait_for(pool, run_id, final, 60, "final")
    assert run.state.is_crashed()
    assert "partition" in run.state.message and f"debug; touch {marker}" in run.state.message
    assert not run.infrastructure_pid  # nothing was submitted
    assert not marker.exists()


def test_job_cancelled_outside_prefect_crashes_the_run_with_the_reason(pool):
    run_id = start_run(pool, seconds=300)
    job_id = running_job(pool, run_id)
    subprocess.run(["scancel", job_id], check=True)  # an administrator, or the user on the login node
    run = wait_for(pool, run_id, final, 60, "final")
    assert run.state.is_crashed()
    assert f"Slurm job {job_id} ended CANCELLED" in run.state.message and "cancelled" in run.state.message


def test_time_limit_crashes_the_run_with_the_slurm_reason(pool):
    run_id = start_run(pool, job_variables={"time_limit": "00:00:01"}, seconds=300)  # this run's limit wins
    run = wait_for(pool, run_id, final, 150, "final")
    assert run.state.is_crashed() or run.state.is_failed()
    assert "TIMEOUT" in run.state.message and "time limit" in run.state.message


def test_memory_beyond_the_request_crashes_the_run_with_the_slurm_reason(pool):
    run_id = start_run(pool, job_variables={"memory": "400M"}, hog_mb=1500, seconds=60)
    run = wait_for(pool, run_id, final, 90, "final")
    job_id = run.infrastructure_pid.split("@")[0]
    assert run.state.is_crashed(), run.state
    assert f"Slurm job {job_id} ended OUT_OF_MEMORY: the job used more memory than it requested and was killed" in run.state.message
    assert f"StepId={job_id}.batch used" in run.state.message and "over its 400 MiB limit" in run.state.message
    assert "Slurm reports FAILED" in run.state.message


def test_cancel_from_prefect_removes_the_slurm_job(pool):
    from prefect.client.orchestration import get_client
    from prefect.states import Cancelling

    run_id = start_run(pool, seconds=300)
    job_id = running_job(pool, run_id)
    assert squeue_state(job_id) == "RUNNING"

    async def cancel():
        async with get_client() as client:
            await client.set_flow_run_state(run_id, Cancelling(), force=True)

    with prefect_api_at(pool["server"].api_url):
        run_async(cancel())
    asked = time.monotonic()
    while squeue_state(job_id) in ("RUNNING", "PENDING", "COMPLETING") and time.monotonic() - asked < 10:
        time.sleep(0.2)
    assert squeue_state(job_id) == "CANCELLED", f"job {job_id} still {squeue_state(job_id)} 10 s after the cancel"
    run = wait_for(pool, run_id, final, 30, "final")
    assert run.state.is_cancelled()


def test_worker_killed_and_restarted_reattaches_and_the_run_completes(pool):
    gate = pool["root"] / f"gate-{uuid.uuid4().hex[:6]}"
    run_id = start_run(pool, gate=str(gate))  # the job runs until the test opens the gate
    job_id = running_job(pool, run_id)
    worker = pool["worker"]
    worker.process.kill()  # no chance to clean up
    worker.process.wait()
    seen = len(worker.output())
    pool["worker"] = Worker(pool["server"], pool["name"], pool["root"] / "worker.log")

    def new_output() -> str:
        return pool["worker"].output()[seen:]

    deadline = time.monotonic() + 90
    while f"Re-attached to Slurm job {job_id}" not in new_output() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert f"Re-attached to Slurm job {job_id} (RUNNING)" in new_output(), new_output()[-3000:]
    assert read_run(pool, run_id).state.is_running()
    gate.touch()
    run = wait_for(pool, run_id, final, 60, "final")
    assert run.state.is_completed()
    deadline = time.monotonic() + 20  # the new worker followed the job to its end
    while f"Slurm job {job_id} COMPLETED" not in new_output() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert f"Slurm job {job_id} COMPLETED" in new_output()


def test_slurmd_killed_fails_the_run_with_the_slurm_reason(pool):
    run_id = start_run(pool, seconds=300)
    running_job(pool, run_id)
    [slurmd] = subprocess.run(["pgrep", "-x", "slurmd"], capture_output=True, text=True).stdout.split()
    os.kill(int(slurmd), signal.SIGKILL)
    try:
        run = wait_for(pool, run_id, final, 120, "final after slurmd died")
        assert run.state.is_crashed()
        assert "NODE_FAIL" in run.state.message and "node" in run.state.message
    finally:
        kill_processes_with_env(f"PREFECT__FLOW_RUN_ID={run_id}")  # the job's own processes survive slurmd
        ensure_slurm_up()
