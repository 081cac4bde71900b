"""run_scan on other executors, each on its real engine: a process pool, a local Dask cluster and an
existing Dask scheduler, the single-node Slurm cluster, and a deployment's process worker."""

from __future__ import annotations

import json
import logging
import time

import pytest

from lume_prefect import run_scan
from tests.scans.conftest import batch_task_runs

pytestmark = [pytest.mark.prefect, pytest.mark.slow]

GRID = {"k1": [-3.0, -1.0, 0.5, 2.0, 4.5], "length": [0.1, 0.3]}  # k1 = 4.5 fails


def check(scan, services, executor):
    assert scan.executor == executor
    assert (scan.points, scan.computed, scan.cached, scan.failed) == (10, 8, 0, 2)
    assert [f.index for f in scan.failures] == [8, 9] and "unstable lattice" in scan.failures[0].message
    store = services.results.store()
    assert store.count(tags=[scan.tag]) == 8
    assert scan.frame.loc[0, "outputs.focal_length"] == pytest.approx(1 / (-3.0 * 0.1))
    again = run_scan(scan.model, GRID, services=services, progress=False)  # in-process: all cached now
    assert (again.cached, again.computed) == (8, 0)


def test_processes(services_on):
    services, model = services_on()
    scan = run_scan(model, GRID, services=services, executor="processes", workers=2, batch_size=3, progress=False)
    check(scan, services, "processes")
    assert scan.batches == 4


def test_dask_local_cluster_and_an_existing_scheduler(services_on):
    from distributed import LocalCluster

    services, model = services_on()
    scan = run_scan(model, GRID, services=services, executor="dask", workers=2, progress=False)
    check(scan, services, "dask")
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster:
        other = run_scan(model, {"k1": [1.5, 2.5], "length": 0.2}, services=services, executor="dask", address=cluster.scheduler_address, progress=False)
        assert other.computed == 2
        prefixes = list(cluster.scheduler.task_prefixes)  # what that scheduler ran
        assert any("scan-batch" in name or "batch" in name for name in prefixes), prefixes


def test_slurm_job_array(services_on, tmp_path):
    from lume_prefect.slurm import SlurmCluster
    from tests.slurm.conftest import ensure_slurm_up

    ensure_slurm_up()
    services, model = services_on()
    workdir = tmp_path / "slurm"
    workdir.mkdir()
    cluster = SlurmCluster(working_dir=str(workdir), max_poll_interval=0.5)
    scan = run_scan(model, GRID, services=services, executor="slurm", slurm=cluster, batch_size=4, progress=False,
                    job={"time_limit": "00:05:00"})
    check(scan, services, "slurm")
    assert scan.batches == 3
    # one job array: at most one element per batch (map_task_as_array may put several batches
    # in one element when the cluster has fewer free slots), every element's result written
    [task_dir] = list((workdir / ".lume-slurm" / "tasks").iterdir())
    assert task_dir.name.startswith("evaluate_batch-")
    elements = sorted(p.name.removeprefix("batch-") for p in task_dir.glob("batch-*.pkl"))
    assert 1 <= len(elements) <= 3
    assert sorted(p.name.removeprefix("result-") for p in task_dir.glob("result-*.pkl")) == elements
    # squeue names the array after the model; its comment names the version and the scan's flow run
    [script] = list(workdir.rglob("*.sh"))
    header = script.read_text()
    assert f"#SBATCH --job-name={model}\n" in header, header
    assert f'#SBATCH --comment="lume-prefect scan of {model} 1.0.0, flow run {scan.flow_run_id}"' in header, header


def test_slurm_without_a_cluster_is_a_clear_error(services_on):
    services, model = services_on()
    with pytest.raises(ValueError, match="executor='slurm' needs a SlurmCluster"):
        run_scan(model, GRID, services=services, executor="slurm", progress=False)


@pytest.mark.parametrize("executor", ["processes", "dask"])
def test_workers_evaluate_batches_without_prefect_and_each_batch_is_a_task_run_of_the_scan(probe_services, executor):
    import os

    services, model = probe_services
    scan = run_scan(model, {"x": [float(i) for i in range(12)]}, services=services, executor=executor, workers=2, batch_size=3, progress=False)

    assert (scan.points, scan.computed, scan.failed, scan.batches) == (12, 12, 0, 4)
    frame = scan.frame
    assert frame["outputs.y"].tolist() == [2.0 * i for i in range(12)]
    pids = set(frame["outputs.pid"])
    assert os.getpid() not in pids and 1 <= len(pids) <= 2  # the points ran in the pool's worker processes
    assert not any(frame["outputs.prefect"])  # which imported the model, not Prefect
    runs = batch_task_runs(scan.flow_run_id, 4)
    assert sorted(r.name for r in runs) == [f"batch {i} of {model}" for i in range(4)]
    assert all(r.state.is_completed() for r in runs)
    assert services.results.store().count(tags=[scan.tag]) == 12


@pytest.mark.parametrize("executor", ["processes", "dask"])
def test_a_model_that_cannot_be_imported_by_a_worker_fails_the_scan_with_its_own_error(probe_services, executor, monkeypatch):
    from lume_prefect.core.errors import RemoteError

    services, model = probe_services
    monkeypatch.setenv("PROBE_NEEDS_A_LICENCE", "1")  # the workers' import of the model raises; this process's did not
    with pytest.raises(RemoteError) as caught:
        run_scan(model, {"x": [1.0, 2.0, 3.0, 4.0]}, services=services, executor=executor, workers=2, batch_size=2, progress=False)
    error = caught.value
    assert error.type_name.endswith(".LicenceError") and error.message == "no licence server for this worker"
    assert f"raised importing model {model} 1.0.0 (model.py:probe" in error.traceback_text  # which model, where
    assert services.results.store().count(model=model) == 0


CHATTY = '''
"""Logs one line per point with model_logger(); with Prefect's own run logger when asked."""

from lume_prefect import model_logger
from lume_prefect.models import ModelSpec

spec = ModelSpec(name="{name}", version="1.0.0", author="tests", laboratory="test", facility="test", beampath="test",
                 inputs=[{{"name": "x", "range": [0, 100]}}, {{"name": "prefect_logger", "type": "bool", "default": False}}],
                 outputs=[{{"name": "y"}}])


@spec.flow
def chatty(x: float, prefect_logger: bool) -> dict:
    if prefect_logger:
        from prefect import get_run_logger

        get_run_logger().info("never in a worker")
    model_logger().info("x is %s", x)
    if x == 3:
        model_logger().warning("x is three")
    return {{"y": x + 1}}
'''


@pytest.fixture
def chatty_services(tmp_path):
    from tests.scans.conftest import services_with_live_code

    return services_with_live_code(tmp_path, CHATTY, "chatty")


def scan_logs(flow_run_id, expected: str) -> list:
    """The logs of a scan's flow run and its task runs, once one says ``expected`` (logs reach the API in batches)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    with get_client(sync_client=True) as client:
        for _ in range(100):
            logs = client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])))
            if any(expected in log.message for log in logs):
                return logs
            time.sleep(0.2)
    return logs


def slurm_options(tmp_path) -> dict:
    from lume_prefect.slurm import SlurmCluster
    from tests.slurm.conftest import ensure_slurm_up

    ensure_slurm_up()
    workdir = tmp_path / "slurm"
    workdir.mkdir()
    return {"slurm": SlurmCluster(working_dir=str(workdir), max_poll_interval=0.5), "job": {"time_limit": "00:05:00"}}


@pytest.mark.parametrize("executor", ["in-process", "processes", "dask", "slurm"])
def test_what_a_model_logs_shows_on_its_batch_wherever_it_ran(chatty_services, executor, tmp_path):
    services, model = chatty_services
    options = slurm_options(tmp_path) if executor == "slurm" else {}
    scan = run_scan(model, {"x": [1.0, 2.0, 3.0, 4.0]}, services=services, executor=executor, batch_size=2, progress=False, **options)
    assert (scan.computed, scan.failed) == (4, 0)
    logs = scan_logs(scan.flow_run_id, "x is three")
    messages = [log.message for log in logs]
    lines = [m for m in messages if m.endswith(("x is 1.0", "x is 2.0", "x is 3.0", "x is 4.0", "x is three"))]
    assert len(lines) == 5, messages
    if executor != "in-process":  # collected in the worker: each line names its point
        assert {"point 0: x is 1.0", "point 3: x is 4.0", "point 2: x is three"} <= set(lines)
    warning = next(log for log in logs if log.message.endswith("x is three"))
    assert warning.level == logging.WARNING
    if executor != "slurm":  # on a batch's task run, as in-process (a Slurm array is one task run for all batches)
        assert warning.task_run_id is not None


def test_prefects_run_logger_in_a_worker_fails_the_point_with_a_hint(chatty_services):
    services, model = chatty_services
    scan = run_scan(model, [{"x": 1.0, "prefect_logger": True}, {"x": 2.0}], services=services, executor="processes", progress=False)
    assert (scan.computed, scan.failed) == (1, 1)
    failure = scan.failures[0]
    assert failure.error_type.endswith("MissingContextError") and "lume_prefect.model_logger()" in failure.message
    here = run_scan(model, [{"x": 1.0, "prefect_logger": True}], services=services, progress=False)  # in a run: fine
    assert here.computed == 1


def test_dask_a_separate_scheduler_and_worker_find_the_services_through_the_scans_api(tmp_path):
    """`dask scheduler` and `dask worker` processes of their own, the worker's environment without
    PREFECT_API_URL and with a Prefect home of its own (no database to read blocks from): its
    models load the saved services through the Prefect API the scan hands over with each batch."""
    import os
    import subprocess
    import sys

    from prefect.client.orchestration import get_client

    from tests.models.conftest import ROOT
    from tests.scans.conftest import services_with_live_model

    services, model = services_with_live_model(tmp_path, "model.py:toy_beam", ROOT / "flows" / "toy_beam", "toy-beam")
    dask = os.path.join(os.path.dirname(sys.executable), "dask")
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "LUME_", "DASK_"))}
    clean |= {"PREFECT_HOME": str(tmp_path / "worker-prefect"), "LUME_PREFECT_HOME": str(tmp_path / "worker-lume"),
              "PYTHONPATH": str(ROOT), "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "5"}
    address_file = tmp_path / "scheduler.json"
    logs = {name: open(tmp_path / f"{name}.log", "w") for name in ("scheduler", "worker")}
    processes = []
    try:
        processes.append(subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--dashboard-address", "127.0.0.1:0",
                                           "--scheduler-file", str(address_file)], env=clean, cwd=tmp_path, stdout=logs["scheduler"],
                                          stderr=subprocess.STDOUT))
        deadline = time.monotonic() + 120
        while not address_file.exists() and time.monotonic() < deadline:
            assert processes[0].poll() is None, (tmp_path / "scheduler.log").read_text()[-3000:]
            time.sleep(0.2)
        address = json.loads(address_file.read_text())["address"]
        processes.append(subprocess.Popen([dask, "worker", address, "--nworkers", "1", "--nthreads", "1", "--no-dashboard",
                                           "--name", "lume-remote-worker"], env=clean, cwd=tmp_path, stdout=logs["worker"],
                                          stderr=subprocess.STDOUT))
        from distributed import Client

        with Client(address, timeout=60) as client:
            client.wait_for_workers(1, timeout=120)
        grid = {"sigma_x": [1e-3, 2e-3, 3e-3], "save_particles": [True]}
        scan = run_scan(model, grid, version="1.0.0", services=services, executor="dask", address=address, batch_size=1, progress=False)
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in reversed(processes):
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
        for log in logs.values():
            log.close()
    worker_log = (tmp_path / "worker.log").read_text()
    assert (scan.executor, scan.points, scan.computed, scan.failed) == ("dask", 3, 3, 0), [f.message for f in scan.failures] + [worker_log[-3000:]]
    assert scan.batches == 3
    assert services.results.store().count(tags=[scan.tag]) == 3  # the points the worker computed are stored
    # each point's particles written by the worker's model through the services it loaded from the API
    written = sorted(p.name for p in (tmp_path / "services" / "files" / "toy-beam" / "1.0.0").iterdir())
    assert len(written) == 3 and all(name.startswith("particles-") for name in written), written
    assert "temporary server" not in worker_log, worker_log[-3000:]
    with get_client(sync_client=True) as client:
        assert client.read_flow_run(scan.flow_run_id).state.is_completed()
    batches = batch_task_runs(scan.flow_run_id, 3)  # the scan's flow run has its three batches, completed
    assert len(batches) == 3 and all(b.state.is_completed() for b in batches), [(b.name, b.state) for b in batches]
