"""Tasks as jobs: a Python call, a mapped call as ONE job array, a shell command, on the real
cluster and in the no-Slurm local mode; the block saved and used from sync and async flows."""

from __future__ import annotations

import glob
import os

import pytest
from prefect import flow

from lume_prefect.slurm import (
    JobFailed,
    SlurmCluster,
    SlurmJob,
    map_task_as_array,
    run_job,
    run_shell_job,
    run_task_as_job,
)

pytestmark = [pytest.mark.prefect, pytest.mark.usefixtures("slurm")]


def square(x: int) -> dict:
    if x < 0:
        raise ValueError(f"negative input {x}")
    return {"x": x, "square": x * x, "job": os.environ.get("SLURM_JOB_ID"), "element": os.environ.get("SLURM_ARRAY_TASK_ID")}


@pytest.fixture(params=["local", "subprocess"])
def cluster(request, workdir, python):
    return SlurmCluster(transport=request.param, working_dir=workdir, python=python, max_poll_interval=0.5)


def test_python_call_and_mapped_call_as_one_array(cluster, workdir):
    @flow
    def scan():
        single = run_task_as_job(cluster, square, args=[7], job={"cpus_per_task": 1})
        mapped = map_task_as_array(cluster, square, [1, 2, 3, 4])
        return single, mapped

    single, mapped = scan()
    assert single["square"] == 49 and single["job"]
    assert [m["square"] for m in mapped] == [1, 4, 9, 16]
    assert [m["element"] for m in mapped] == ["0", "1", "2", "3"]
    array_ids = {m["job"].rsplit("_", 1)[0] if cluster.transport == "subprocess" else None for m in mapped}
    scripts = glob.glob(f"{workdir}/.lume-slurm/lume-square-*.sh")
    assert len(scripts) == 2  # one job for the single call, one array job for the four mapped calls
    if cluster.transport == "local":
        assert len({m["job"] for m in mapped}) == 4  # four elements ...
        assert any("#SBATCH --array=0-3" in open(s).read() for s in scripts)  # ... of one array
    else:
        assert len(array_ids) == 1


def test_exception_in_the_job_is_raised_with_the_remote_traceback(cluster):
    @flow
    def failing():
        return run_task_as_job(cluster, square, args=[-1])

    with pytest.raises(ValueError, match="negative input -1") as info:
        failing()
    assert any("raised in Slurm job" in note and "square" in note for note in info.value.__notes__)


def test_shell_command_as_a_job(cluster):
    @flow
    def shell():
        return run_shell_job(cluster, 'echo "one"; echo "$WHO"', env={"WHO": "two; echo three"})

    assert shell() == ["one", "two; echo three"]

    @flow
    def failing_shell():
        return run_shell_job(cluster, "echo broken >&2; exit 5")

    with pytest.raises(JobFailed, match="exit code 5.*broken"):
        failing_shell()


def test_saved_block_from_sync_and_async_flows(workdir, python):
    SlurmCluster(working_dir=workdir, python=python, max_poll_interval=0.5).save("tasks-cluster", overwrite=True)

    @flow
    def sync_flow():
        [result] = run_job("tasks-cluster", SlurmJob(name="sync", command=["echo", "sync"]))
        return result.stdout

    @flow
    async def async_flow():
        cluster = await SlurmCluster.aload("tasks-cluster")
        job = await cluster.asubmit(SlurmJob(name="async", command=["echo", "async"]))
        [result] = await cluster.await_job(job)
        [status] = await cluster.astatus(job)
        return result.stdout, status.state

    import asyncio

    assert sync_flow() == "sync\n"
    assert asyncio.run(async_flow()) == ("async\n", "COMPLETED")
