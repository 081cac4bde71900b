"""executor="dask" through prefect-dask's DaskTaskRunner, on real clusters: a user's configured
runner (a cluster class, adaptive or not, a running cluster), the process's default Dask client,
dask-jobqueue's SLURMCluster on the single-node Slurm cluster, how a cluster is closed, and the
checks of ``dask=``. The workers still run only the plain batch function (no Prefect in them)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid

import pytest
from prefect_dask import DaskTaskRunner

from lume_prefect import run_scan

LOCAL = {"threads_per_worker": 1, "processes": True, "dashboard_address": ":0"}


def points(count: int, offset: float = 0.0) -> dict:
    return {"x": [offset + i for i in range(count)]}


def ran_in_workers(scan, tag=None) -> set[int]:
    """The pids of the processes that evaluated the scan's points, checked to be workers without Prefect."""
    frame = scan.frame
    assert (scan.computed, scan.failed) == (scan.points, 0)
    assert frame["outputs.y"].tolist() == [2.0 * x for x in frame["inputs.x"]]
    assert not any(frame["outputs.prefect"])  # the workers imported the model, not Prefect
    if tag is not None:  # the cluster's configuration put it in its workers' environment
        assert set(frame["outputs.tag"]) == {tag}
    pids = set(frame["outputs.pid"])
    assert os.getpid() not in pids
    return pids


# ---- dask= and its checks (nothing runs) ---------------------------------------------------


@pytest.mark.unit
def test_dask_takes_a_dask_task_runner_for_executor_dask_without_an_address():
    runner = DaskTaskRunner(cluster_class="distributed.LocalCluster")
    with pytest.raises(ValueError, match=r"dask= \(a DaskTaskRunner\) is for executor='dask', got executor='processes'"):
        run_scan("any-model", [{"x": 1.0}], executor="processes", dask=runner)
    with pytest.raises(ValueError, match=r"give either dask= \(a DaskTaskRunner\) or address= \(a running Dask scheduler\), not both"):
        run_scan("any-model", [{"x": 1.0}], executor="dask", dask=runner, address="tcp://127.0.0.1:8786")
    with pytest.raises(TypeError, match=r"dask must be a prefect_dask.DaskTaskRunner, .* got str 'tcp://127.0.0.1:8786' \(a scheduler's address goes to address=\)"):
        run_scan("any-model", [{"x": 1.0}], executor="dask", dask="tcp://127.0.0.1:8786")
    with pytest.raises(TypeError, match=r"dask must be a prefect_dask.DaskTaskRunner, .* got dict \{'cluster_class'"):
        run_scan("any-model", [{"x": 1.0}], executor="dask", dask={"cluster_class": "distributed.LocalCluster"})


@pytest.mark.unit
def test_a_user_runner_sizes_the_batches_and_gets_every_batch_in_flight():
    from lume_prefect.scans.executors import runner_workers, task_runner

    adaptive = DaskTaskRunner(cluster_kwargs={"n_workers": 0}, adapt_kwargs={"minimum": 0, "maximum": 6})
    assert runner_workers(adaptive) == 6  # the batches are sized for the most workers it can have
    assert runner_workers(DaskTaskRunner(cluster_kwargs={"n_workers": 3})) == 3
    assert runner_workers(DaskTaskRunner(cluster_class="distributed.LocalCluster")) is None  # the scan's default then
    assert runner_workers(None) is None
    # one waiting thread per batch on a cluster we do not size (it may scale to them); per worker on our own
    assert task_runner("dask", 2, None, 24, adaptive)._max_workers == 24
    assert task_runner("dask", 2, "tcp://127.0.0.1:8786", 24)._max_workers == 24
    assert task_runner("dask", 2, None, 24)._max_workers == 2
    assert task_runner("processes", 2, None, 24)._max_workers == 2
    assert task_runner("dask", 2, None, 10_000, adaptive)._max_workers == 256  # not a thread per batch of 10,000


@pytest.mark.unit
def test_an_option_of_another_executor_is_refused_not_ignored():
    for executor, option in (("processes", {"address": "tcp://127.0.0.1:8786"}), ("in-process", {"slurm": "my-cluster"}),
                             ("dask", {"job": {"time_limit": "00:05:00"}})):
        name = next(iter(option))
        wanted = "dask" if name == "address" else "slurm"
        with pytest.raises(ValueError, match=rf"{name}= is read by executor='{wanted}' only, got executor='{executor}'"):
            run_scan("any-model", [{"x": 1.0}], executor=executor, **option)


# ---- a user's runner ------------------------------------------------------------------------

@pytest.mark.prefect
@pytest.mark.slow
def test_a_configured_runner_starts_its_cluster_class_for_each_scan_whose_workers_evaluate_the_batches(probe_services):
    services, model = probe_services
    tag = uuid.uuid4().hex[:8]
    runner = DaskTaskRunner(cluster_class="distributed.LocalCluster", cluster_kwargs={"n_workers": 2, **LOCAL, "env": {"PROBE_TAG": tag}})
    first = run_scan(model, points(12), services=services, executor="dask", dask=runner, batch_size=3, progress=False)
    assert first.batches == 4
    first_pids = ran_in_workers(first, tag)
    assert 1 <= len(first_pids) <= 2

    # the same runner again: a new cluster of the same settings (the first was closed with its scan)
    second = run_scan(model, points(8, offset=20.0), services=services, executor="dask", dask=runner, progress=False)
    assert second.batches == 8  # sized for its n_workers: 8 points / (2 workers x 4 batches each)
    second_pids = ran_in_workers(second, tag)
    assert not second_pids & first_pids
    assert services.results.store().count(model=model) == 20


@pytest.mark.prefect
@pytest.mark.slow
def test_an_adaptive_cluster_grows_from_no_worker_to_evaluate_the_batches(probe_services):
    services, model = probe_services
    tag = uuid.uuid4().hex[:8]
    runner = DaskTaskRunner(cluster_class="distributed.LocalCluster", cluster_kwargs={"n_workers": 0, **LOCAL, "env": {"PROBE_TAG": tag}},
                            adapt_kwargs={"minimum": 0, "maximum": 2})
    scan = run_scan(model, points(8), services=services, executor="dask", dask=runner, progress=False)
    assert scan.batches == 8  # sized for the adaptive maximum: 8 points / (2 workers x 4 batches each)
    assert ran_in_workers(scan, tag)


@pytest.mark.prefect
@pytest.mark.slow
def test_a_running_cluster_given_to_the_runner_or_as_the_default_client_evaluates_the_batches_and_stays_up(probe_services):
    from distributed import Client, LocalCluster
    from distributed.core import Status

    services, model = probe_services
    with LocalCluster(n_workers=1, **LOCAL) as cluster, Client(cluster, set_as_default=False) as client:
        workers = set(client.run(os.getpid).values())
        given = run_scan(model, points(4), services=services, executor="dask", dask=DaskTaskRunner(cluster=cluster), progress=False)
        assert ran_in_workers(given) == workers
        assert cluster.status == Status.running and set(client.run(os.getpid).values()) == workers
        # prefect-dask's rule: a process with a default Dask client (a notebook's Client()) scans on its cluster
        with Client(cluster):
            default = run_scan(model, points(4, offset=10.0), services=services, executor="dask", workers=2, progress=False)
        assert ran_in_workers(default) == workers
        assert cluster.status == Status.running and set(client.run(os.getpid).values()) == workers


@pytest.mark.prefect
@pytest.mark.slow
def test_a_cluster_whose_client_cannot_start_is_closed(probe_services):
    from distributed import LocalCluster
    from distributed.core import Status

    services, model = probe_services
    made = []

    def recorded_cluster(**kwargs):  # a cluster class may be any callable that returns a cluster
        made.append(LocalCluster(**kwargs))
        return made[-1]

    runner = DaskTaskRunner(cluster_class=recorded_cluster, cluster_kwargs={"n_workers": 1, **LOCAL}, client_kwargs={"no_such_option": 1})
    with pytest.raises(ValueError, match="no_such_option"):
        run_scan(model, points(2), services=services, executor="dask", dask=runner, progress=False)
    [cluster] = made
    assert cluster.status == Status.closed
    assert services.results.store().count(model=model) == 0


# ---- our own local cluster -------------------------------------------------------------------


@pytest.mark.slow
def test_the_local_cluster_closes_in_a_thread_after_the_last_outcome_and_a_scheduler_connection_at_once(tmp_path):
    import psutil
    from distributed import LocalCluster
    from distributed.core import Status

    from lume_prefect.models.batch import Batch
    from lume_prefect.scans.pools import DaskPool
    from tests.scans.conftest import write_quad

    source = write_quad(tmp_path / "quad", "quad-local")
    batch = Batch(0, "quad-local", "1.0.0", "model.py:quad", str(source), [0, 1], [{"k1": 1.0, "length": 0.1, "label": "q"},
                                                                                    {"k1": 4.5, "length": 0.1, "label": "q"}])
    pool = DaskPool(1)
    outcome = pool.evaluate(batch)
    assert outcome.outputs[0]["focal_length"] == pytest.approx(10.0) and outcome.errors[1][0] == "ValueError"
    worker = psutil.Process(int(outcome.worker.rsplit(":", 1)[1]))
    assert worker.pid != os.getpid()
    pool.close()
    assert pool.closing is not None and not pool.closing.daemon  # the interpreter waits for it at exit
    pool.closing.join(60)
    assert not pool.closing.is_alive()
    worker.wait(timeout=30)  # the cluster's worker process has exited

    with LocalCluster(n_workers=1, **LOCAL) as cluster:
        pool = DaskPool(1, address=cluster.scheduler_address)
        assert pool.evaluate(batch).outputs[0]["focal_length"] == pytest.approx(10.0)
        pool.close()
        assert pool.closing is None  # only the connection is closed, at once
        assert cluster.status == Status.running and len(cluster.scheduler.workers) == 1


# ---- dask-jobqueue's SLURMCluster on the real Slurm --------------------------------------------


def slurm_job(job_id: str) -> dict[str, str]:
    shown = subprocess.run(["scontrol", "show", "job", job_id], capture_output=True, text=True, timeout=30).stdout
    return dict(item.split("=", 1) for item in shown.split() if "=" in item)


@pytest.mark.prefect
@pytest.mark.slow
def test_dask_jobqueue_slurmcluster_evaluates_the_batches_in_slurm_jobs_and_cancels_them_after(probe_services, tmp_path):
    from tests.slurm.conftest import ensure_slurm_up

    ensure_slurm_up()
    services, model = probe_services
    name = f"lume-scan-{uuid.uuid4().hex[:6]}"
    runner = DaskTaskRunner(
        cluster_class="dask_jobqueue.SLURMCluster",
        cluster_kwargs={"queue": "debug", "cores": 1, "processes": 1, "memory": "1GB", "walltime": "00:10:00", "job_name": name,
                        "python": sys.executable, "log_directory": str(tmp_path / "dask-logs")},  # the workers' python: this venv's
        adapt_kwargs={"minimum": 0, "maximum": 2},
    )
    scan = run_scan(model, points(8), services=services, executor="dask", dask=runner, progress=False)
    assert scan.batches == 8
    ran_in_workers(scan)
    jobs = set(scan.frame["outputs.job"])
    assert None not in jobs and 1 <= len(jobs) <= 8  # every point in a job of the cluster
    assert {slurm_job(job)["JobName"] for job in jobs} == {name}
    deadline = time.monotonic() + 60  # the cluster closes after the scan: its jobs are cancelled
    while (left := subprocess.run(["squeue", "-h", "-n", name, "-o", "%i %T"], capture_output=True, text=True, timeout=30).stdout.strip()) \
            and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not left, f"jobs of the scan's cluster still queued or running: {left}"
