"""Tasks as jobs: a Python call, a mapped call as ONE job array, a shell command, on the real
cluster and in the no-Slurm local mode; the block saved and used from sync and async flows."""

from __future__ import annotations

import glob
import json
import os
import shlex
import subprocess
import sys
import time
import uuid

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
def cluster(request, workdir):
    return SlurmCluster(transport=request.param, working_dir=workdir, max_poll_interval=0.5)


def test_python_call_and_mapped_call_as_one_array(cluster, workdir):
    @flow
    def scan():
        single = run_task_as_job(cluster, square, args=[7], job={"cpus_per_task": 1})
        mapped = map_task_as_array(cluster, square, [1, 2, 3, 4], items_per_job=1)
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


def test_saved_block_from_sync_and_async_flows(workdir):
    SlurmCluster(working_dir=workdir, max_poll_interval=0.5).save("tasks-cluster", overwrite=True)

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


def interpreter(_: object = None) -> dict:
    """Where a job's Python call ran: its interpreter, environment and lume-prefect."""
    import lume_prefect

    return {"executable": sys.executable, "prefix": sys.prefix, "lume_prefect": lume_prefect.__file__,
            "wrapped": os.environ.get("LUME_WRAPPED_PYTHON")}


HERE = {"executable": sys.executable, "prefix": sys.prefix, "lume_prefect": __import__("lume_prefect").__file__, "wrapped": None}


@pytest.mark.parametrize("transport", ["local", "subprocess"])
def test_a_block_made_as_the_readme_says_runs_python_jobs_in_this_venv(transport, workdir):
    """No ``python`` given (the README's blocks give none): the jobs run the interpreter that runs
    lume-prefect here, so this venv and this lume-prefect, whatever python3 the PATH has. Saving
    bakes no path into the block: the process that loads it and submits decides."""
    name = f"venv-{transport}-{uuid.uuid4().hex[:6]}"
    SlurmCluster(transport=transport, working_dir=workdir, max_poll_interval=0.5).save(name)
    cluster = SlurmCluster.load(name)
    assert cluster.python is None and cluster.job_python == sys.executable

    @flow
    def where():
        return run_task_as_job(name, interpreter), map_task_as_array(cluster, interpreter, [1, 2], items_per_job=1)

    single, mapped = where()
    assert single == HERE and mapped == [HERE, HERE]


def test_an_explicit_python_wins(cluster, workdir):
    wrapper = os.path.join(workdir, "python-wrapper")
    with open(wrapper, "w") as file:
        file.write(f'#!/bin/sh\nexport LUME_WRAPPED_PYTHON=yes\nexec {shlex.quote(sys.executable)} "$@"\n')
    os.chmod(wrapper, 0o755)
    explicit = SlurmCluster(transport=cluster.transport, working_dir=workdir, python=wrapper, max_poll_interval=0.5)
    assert explicit.job_python == wrapper

    @flow
    def where():
        return run_task_as_job(explicit, interpreter)

    assert where() == {**HERE, "wrapped": "yes"}


def slow_square(x: int) -> int:
    time.sleep(2)
    return x * x


def test_a_long_wait_shows_its_progress_in_the_prefect_ui(cluster):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterType
    from prefect.runtime import flow_run

    cluster.controller().progress_after = 0.5  # the tasks use the block's controller

    @flow
    def scan():
        return map_task_as_array(cluster, slow_square, [1, 2, 3], items_per_job=1), flow_run.get_id()

    values, run_id = scan()
    assert values == [1, 4, 9]
    with get_client(sync_client=True) as client:
        [artifact] = client.read_artifacts(artifact_filter=ArtifactFilter(
            flow_run_id=ArtifactFilterFlowRunId(any_=[run_id]), type=ArtifactFilterType(any_=["progress"])))
    assert artifact.data == 100.0 and artifact.task_run_id is not None
    # The last report comes when every element has written its results ("done"), or when
    # Slurm reports them all COMPLETED, whichever is seen first.
    assert "lume-slow_square): 3/3 finished; 3 completed" in artifact.description or \
        "lume-slow_square): 3/3 finished; 3 done" in artifact.description


NO_SLURM = """
import json, os, shutil, sys

from prefect import flow

from lume_prefect.slurm import SlurmCluster, map_task_as_array, run_shell_job, run_task_as_job


def cube(x):
    return x ** 3, os.environ.get("SLURM_ARRAY_TASK_ID")


@flow
def on_a_laptop(workdir):
    cluster = SlurmCluster(transport="subprocess", working_dir=workdir)
    return map_task_as_array(cluster, cube, [1, 2, 3], items_per_job=1), run_task_as_job(cluster, cube, args=[4]), run_shell_job(cluster, "echo from-bash")


print(json.dumps({"slurm": [shutil.which(c) for c in ("sbatch", "squeue", "scancel", "sinfo")], "result": on_a_laptop(sys.argv[1])}))
"""


def test_local_mode_runs_the_same_tasks_where_there_is_no_slurm(workdir, tmp_path):
    """A laptop: no Slurm command on PATH (only bash and mv, which job scripts use), no slurm.conf."""
    from prefect.settings import PREFECT_API_URL

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "mv"):
        (bin_dir / tool).symlink_to(subprocess.run(["which", tool], capture_output=True, text=True, check=True).stdout.strip())
    (tmp_path / "laptop.py").write_text(NO_SLURM)
    env = {**os.environ, "PATH": str(bin_dir), "SLURM_CONF": str(tmp_path / "no-slurm.conf"), "PREFECT_API_URL": PREFECT_API_URL.value()}
    done = subprocess.run([sys.executable, str(tmp_path / "laptop.py"), workdir], capture_output=True, text=True, env=env, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["slurm"] == [None, None, None, None]
    mapped, single, shell = report["result"]
    assert mapped == [[1, "0"], [8, "1"], [27, "2"]]
    assert single == [64, None]
    assert shell == ["from-bash"]


def where(x: int) -> dict:
    """Which element ran the item, and whether the job-side runner imported Prefect."""
    return {"x": x, "element": os.environ.get("SLURM_ARRAY_TASK_ID"), "pid": os.getpid(),
            "heavy": sorted(m for m in ("prefect", "pydantic", "lume_prefect.slurm.blocks") if m in sys.modules)}


def test_batches_keep_the_order_and_the_runner_stays_light(cluster, workdir):
    """Ten items, three per element: four elements, one process each, values in the order given;
    the element imports neither Prefect nor pydantic (it only unpickles and calls)."""

    @flow
    def scan():
        return map_task_as_array(cluster, where, list(range(10)), items_per_job=3)

    values = scan()
    assert [v["x"] for v in values] == list(range(10))
    assert [v["element"] for v in values] == ["0"] * 3 + ["1"] * 3 + ["2"] * 3 + ["3"]
    assert len({v["pid"] for v in values}) == 4
    assert all(v["heavy"] == [] for v in values)
    [script] = glob.glob(f"{workdir}/.lume-slurm/lume-where-*.sh")
    assert "#SBATCH --array=0-3" in open(script).read()


def test_without_items_per_job_the_items_spread_over_the_free_slots(cluster, workdir):
    slots = cluster.controller().backend.free_slots()
    assert slots and slots >= 1

    @flow
    def scan():
        return map_task_as_array(cluster, where, list(range(20)))

    values = scan()
    assert [v["x"] for v in values] == list(range(20))
    elements = min(slots, 20)
    per_job = -(-20 // elements)
    assert len({v["element"] for v in values}) == -(-20 // per_job)
    assert [v["element"] for v in values][:per_job] == ["0"] * per_job


def half(x: int) -> float:
    if x % 2:
        raise ValueError(f"odd input {x}")
    return x / 2


class Unpicklable(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        import threading

        self.lock = threading.Lock()  # a lock cannot be pickled, not even by cloudpickle


def unpicklable(x: int) -> int:
    raise Unpicklable(f"cannot travel {x}")


def test_failed_items_are_reported_by_index_and_the_others_kept(cluster):
    import pickle

    from lume_prefect.core.errors import RemoteError
    from lume_prefect.slurm import ItemsFailed

    @flow
    def scan():
        return map_task_as_array(cluster, half, [0, 1, 2, 3, 4], items_per_job=2)

    with pytest.raises(ItemsFailed) as info:
        scan()
    error = info.value
    assert sorted(error.failed) == [1, 3]
    assert error.results[0] == 0 and error.results[2] == 1 and error.results[4] == 2
    assert isinstance(error.failed[1], ValueError) and "odd input 1" in str(error.failed[1])
    assert any("item 1" in note and "half" in note for note in error.failed[1].__notes__)
    assert "2 of 5 calls of half failed; item 1: ValueError: odd input 1" in str(error)
    copy = pickle.loads(pickle.dumps(error))  # errors keep their type across processes
    assert type(copy) is ItemsFailed and sorted(copy.failed) == [1, 3] and copy.results[4] == 2

    @flow
    def cannot_travel():
        return run_task_as_job(cluster, unpicklable, args=[5])

    with pytest.raises(RemoteError) as remote:
        cannot_travel()
    assert remote.value.type_name.endswith("Unpicklable") and "cannot travel 5" in str(remote.value)
    assert "Remote traceback" in str(remote.value)


def test_bad_batching_values_name_the_parameter(cluster):
    for value in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match=f"items_per_job {value!r}"):
            map_task_as_array.fn(cluster, half, [1, 2], items_per_job=value)
    with pytest.raises(ValueError, match="max_running 0"):
        map_task_as_array.fn(cluster, half, [1, 2], max_running=0)


def test_the_runner_imports_nothing_heavy(tmp_path):
    """``python -m lume_prefect.slurm.runner`` imports lume_prefect and lume_prefect.slurm
    (both lazy), the runner, cloudpickle and the core errors: no Prefect, no pydantic."""
    code = ("import sys, lume_prefect.slurm.runner as r, cloudpickle, lume_prefect.core.errors; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('prefect', 'pydantic', 'lume_prefect', 'sqlalchemy')))")
    # -I: no current directory or PYTHONPATH on sys.path, only this environment's install.
    done = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path)
    assert json.loads(done.stdout.replace("'", '"')) == [
        "lume_prefect", "lume_prefect.core", "lume_prefect.core.errors", "lume_prefect.core.lazy", "lume_prefect.slurm",
        "lume_prefect.slurm.runner"]
