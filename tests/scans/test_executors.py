"""run_scan on other executors, each on its real engine: a process pool, a local Dask cluster and an
existing Dask scheduler, the single-node Slurm cluster, and a deployment's process worker."""

from __future__ import annotations

import pytest

from lume_prefect import run_scan

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
    import sys

    from lume_prefect.slurm import SlurmCluster
    from tests.slurm.conftest import ensure_slurm_up

    ensure_slurm_up()
    services, model = services_on()
    workdir = tmp_path / "slurm"
    workdir.mkdir()
    cluster = SlurmCluster(working_dir=str(workdir), python=sys.executable, max_poll_interval=0.5)
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


def test_slurm_without_a_cluster_is_a_clear_error(services_on):
    services, model = services_on()
    with pytest.raises(ValueError, match="executor='slurm' needs a SlurmCluster"):
        run_scan(model, GRID, services=services, executor="slurm", progress=False)
