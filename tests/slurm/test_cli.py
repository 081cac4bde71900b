"""``lume-prefect slurm`` against the real single-node Slurm, through a SlurmCluster saved in the
session's Prefect API; each command runs in its own process, as an operator would run it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import pytest

pytestmark = pytest.mark.prefect


@pytest.fixture
def lume(slurm, workdir):
    from prefect.settings import PREFECT_API_URL

    from lume_prefect.slurm import SlurmCluster

    name = f"cli-{uuid.uuid4().hex[:8]}"
    SlurmCluster(transport="local", working_dir=workdir, min_poll_interval=0.1, max_poll_interval=0.5).save(name)
    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value(), "PREFECT_LOGGING_LEVEL": "WARNING"}
    env.pop("PREFECT_TEST_MODE", None)

    def call(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "lume_prefect.cli", "slurm", *args], capture_output=True, text=True, env=env, timeout=180)

    call.cluster = name
    return call


def submit(lume, *args: str) -> str:
    done = lume("submit", lume.cluster, "--json", *args)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["job_id"]


def test_submit_status_wait_output(lume):
    done = lume("submit", lume.cluster, "--name", "hello", "--time", "5", "--", "echo", "hello from slurm")
    assert done.returncode == 0, done.stderr
    job_id = done.stdout.strip()
    assert job_id.isdigit()

    status = lume("status", lume.cluster, job_id, "--json")
    assert status.returncode == 0, status.stderr
    [row] = json.loads(status.stdout)
    assert row["job"] == job_id and row["state"] in ("PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "COMPLETED")

    waited = lume("wait", lume.cluster, job_id, "--timeout", "120")
    assert waited.returncode == 0, waited.stdout + waited.stderr
    assert "COMPLETED" in waited.stdout

    table = lume("status", lume.cluster, job_id)
    assert table.returncode == 0 and job_id in table.stdout and "COMPLETED" in table.stdout

    out = lume("output", lume.cluster, job_id)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "hello from slurm\n"


def test_failing_job_wait_exits_1(lume):
    job_id = submit(lume, "--script", "echo oops >&2; exit 3")
    waited = lume("wait", lume.cluster, job_id, "--timeout", "120", "--json")
    assert waited.returncode == 1, waited.stderr
    [row] = json.loads(waited.stdout)
    assert row["state"] == "FAILED" and row["exit_code"] == 3
    err = lume("output", lume.cluster, job_id, "--stderr")
    assert err.returncode == 0 and "oops" in err.stdout


def test_cancel(lume):
    job_id = submit(lume, "--", "sleep", "60")
    done = lume("cancel", lume.cluster, job_id)
    assert done.returncode == 0, done.stderr
    waited = lume("wait", lume.cluster, job_id, "--timeout", "60")
    assert waited.returncode == 1
    status = lume("status", lume.cluster, job_id, "--json")
    assert status.returncode == 0, status.stderr
    assert [row["state"] for row in json.loads(status.stdout)] == ["CANCELLED"]


def test_status_of_several_jobs_in_one_table(lume):
    first, second = submit(lume, "--", "true"), submit(lume, "--", "false")
    for job_id in (first, second):
        lume("wait", lume.cluster, job_id, "--timeout", "120")
    status = lume("status", lume.cluster, first, second, "--json")
    assert status.returncode == 0, status.stderr
    assert {row["job"]: row["state"] for row in json.loads(status.stdout)} == {first: "COMPLETED", second: "FAILED"}


def test_errors_name_the_value(lume):
    unknown = lume("status", "no-such-cluster", "1")
    assert unknown.returncode == 1 and "error:" in unknown.stderr and "no-such-cluster" in unknown.stderr

    bad = lume("status", lume.cluster, "12x")
    assert bad.returncode == 1 and "'12x'" in bad.stderr

    missing = lume("wait", lume.cluster, "999999999")
    assert missing.returncode == 1 and "999999999" in missing.stderr

    neither = lume("submit", lume.cluster)
    assert neither.returncode == 1 and "error:" in neither.stderr

    invalid = lume("submit", lume.cluster, "--time", "soon", "--", "true")
    assert invalid.returncode == 1 and "soon" in invalid.stderr


def test_cancel_of_an_unknown_or_finished_job_says_so(lume):
    unknown = lume("cancel", lume.cluster, "99999999")
    assert unknown.returncode == 1
    assert "99999999" in unknown.stderr and "unknown to Slurm" in unknown.stderr
    assert "cancelled" not in unknown.stdout

    done = submit(lume, "--", "true")
    lume("wait", lume.cluster, done, "--timeout", "120")
    finished = lume("cancel", lume.cluster, done)
    assert finished.returncode == 0, finished.stderr
    assert f"job {done} had already ended (COMPLETED): nothing to cancel" in finished.stdout
    assert "cancelled" not in finished.stdout.replace("nothing to cancel", "")
