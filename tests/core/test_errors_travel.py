"""An error raised where a function runs elsewhere (a process pool, a Dask cluster, a Slurm
job) reaches the caller as itself; a user's error that pickle cannot rebuild arrives as a
``RemoteError`` carrying its type, message and traceback, never as a TypeError."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor

import pytest

from lume_prefect.core.errors import MissingDatabaseDirectory, PortableCall, RemoteError
from lume_prefect.slurm.errors import JobFailed
from tests.core.raisers import count_results, fail_like_slurm, simulate
from tests.slurm.conftest import ensure_slurm_up, workdir  # noqa: F401 - workdir is a fixture

USERS_ERROR = "tests.core.raisers.UsersOwnError"


def check_job_failed(error: JobFailed) -> None:
    assert type(error) is JobFailed
    assert (error.job_id, error.state, error.reason, error.exit_code) == ("77", "TIMEOUT", "reached its time limit", 143)
    assert str(error) == "Slurm job 77 ended TIMEOUT: reached its time limit"


def check_remote(error: RemoteError) -> None:
    assert type(error) is RemoteError
    assert error.type_name == USERS_ERROR
    assert error.message == "charge 2.0 above 1.0"
    assert "in simulate" in error.traceback_text and USERS_ERROR in error.traceback_text  # where it was raised
    assert "charge 2.0 above 1.0" in str(error)


def test_process_pool():
    with ProcessPoolExecutor(max_workers=2) as pool:
        with pytest.raises(JobFailed) as failed:
            pool.submit(fail_like_slurm, "77").result()
        check_job_failed(failed.value)
        with pytest.raises(RemoteError) as remote:
            pool.submit(PortableCall(simulate), 2.0).result()
        check_remote(remote.value)
        assert pool.submit(PortableCall(simulate), 0.5).result() == 1.0  # the wrapper changes nothing else


def test_a_missing_database_directory_arrives_from_a_process_pool_as_itself(tmp_path):
    url = f"sqlite:///{tmp_path}/typo/results.db"
    with ProcessPoolExecutor(max_workers=1) as pool:
        with pytest.raises(MissingDatabaseDirectory) as missing:
            pool.submit(count_results, url).result()
    assert type(missing.value) is MissingDatabaseDirectory
    assert (missing.value.url, missing.value.directory) == (url, str(tmp_path / "typo"))
    assert not (tmp_path / "typo").exists()


@pytest.fixture(scope="module")
def dask_client():
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        with Client(cluster) as client:
            yield client


@pytest.mark.slow
def test_dask_local_cluster(dask_client):
    with pytest.raises(JobFailed) as failed:
        dask_client.submit(fail_like_slurm, "77", pure=False).result()
    check_job_failed(failed.value)
    with pytest.raises(RemoteError) as remote:
        dask_client.submit(PortableCall(simulate), 2.0, pure=False).result()
    check_remote(remote.value)
    assert dask_client.submit(PortableCall(simulate), 0.25, pure=False).result() == 0.5


@pytest.mark.slow
@pytest.mark.prefect
def test_slurm_job(workdir):
    from lume_prefect.slurm import SlurmCluster, run_task_as_job

    ensure_slurm_up()
    cluster = SlurmCluster(working_dir=workdir, max_poll_interval=0.5)
    with pytest.raises(JobFailed) as failed:
        run_task_as_job(cluster, fail_like_slurm, args=["77"])
    check_job_failed(failed.value)
    assert any("raised in Slurm job" in note for note in failed.value.__notes__)
    with pytest.raises(RemoteError) as remote:
        run_task_as_job(cluster, simulate, args=[2.0])  # no wrapper needed: the job's runner carries it
    check_remote(remote.value)
