"""Job control against the real single-node Slurm through each transport: local commands, a
real sshd, and a real slurmrestd."""

from __future__ import annotations

import os
import time

import pytest

from lume_prefect.slurm import JobFailed, SlurmCluster, SlurmCommandError, SlurmJob, TransportError
from lume_prefect.slurm.control import SlurmController
from lume_prefect.slurm.transports import CommandBackend, LocalRunner

pytestmark = pytest.mark.usefixtures("slurm")

TRANSPORTS = ["local", "ssh", "rest"]


@pytest.fixture(params=TRANSPORTS)
def cluster(request, workdir, python):
    settings = {"transport": request.param, "working_dir": workdir, "python": python, "max_poll_interval": 1.0}
    if request.param == "ssh":
        sshd = request.getfixturevalue("sshd")
        settings.update(host="127.0.0.1", port=sshd.port, user=sshd.user, private_key=sshd.private_key, known_hosts_file=str(sshd.known_hosts))
    elif request.param == "rest":
        rest = request.getfixturevalue("slurmrestd")
        settings.update(rest_url=rest.url, user=rest.user, rest_token=rest.token)
    block = SlurmCluster(**settings)
    yield block
    block.controller().close()


def test_submit_wait_collect_output_and_exit_code(cluster, workdir):
    ok = cluster.submit(SlurmJob(name="hello", environment={"GREETING": "it's a \"test\"\n2nd line"},
                                 script='echo "$GREETING"; echo oops >&2'))
    bad = cluster.submit(SlurmJob(name="fails", script="exit 3"))
    [good] = cluster.wait(ok, timeout=60)
    [failed] = cluster.wait(bad, timeout=60)
    assert good.succeeded and good.status.state == "COMPLETED" and good.exit_code == 0
    assert good.stdout == "it's a \"test\"\n2nd line\n" and good.stderr == "oops\n"
    assert failed.status.state == "FAILED" and failed.exit_code == 3
    with pytest.raises(JobFailed, match="FAILED.*exit code 3"):
        failed.raise_for_state()


def test_array_elements_are_tracked_one_by_one(cluster):
    job = cluster.submit(SlurmJob(name="arr", array="0-3", script='echo "element $SLURM_ARRAY_TASK_ID"; [ "$SLURM_ARRAY_TASK_ID" != 2 ]'))
    results = cluster.wait(job, timeout=90)
    assert [r.status.job_id for r in results] == [f"{job.job_id}_{i}" for i in range(4)]
    assert [r.stdout for r in results] == [f"element {i}\n" for i in range(4)]
    assert [r.status.state for r in results] == ["COMPLETED", "COMPLETED", "FAILED", "COMPLETED"]
    assert results[2].exit_code == 1


@pytest.mark.slow
def test_time_limit_is_surfaced_as_timeout_with_reason(workdir, sshd, slurm):
    """Slurm enforces time limits every ~30 s, so both command transports share one wait.
    (slurmrestd takes whole minutes, so its TIMEOUT would cost 90 s; its state mapping is the same parser's.)"""
    local = SlurmCluster(working_dir=workdir)
    remote = SlurmCluster(transport="ssh", host="127.0.0.1", port=sshd.port, user=sshd.user, private_key=sshd.private_key,
                          known_hosts_file=str(sshd.known_hosts), working_dir=workdir)
    jobs = [(block, block.submit(SlurmJob(name="too-long", time_limit="00:00:01", script="sleep 300"))) for block in (local, remote)]
    for block, job in jobs:
        [result] = block.wait(job, timeout=150)
        assert result.status.state == "TIMEOUT"
        with pytest.raises(JobFailed) as info:
            result.raise_for_state()
        assert info.value.state == "TIMEOUT" and "time limit" in str(info.value)


def test_cancel_removes_a_running_job(cluster):
    job = cluster.submit(SlurmJob(name="to-cancel", script="sleep 300"))
    control = cluster.controller()
    deadline = time.monotonic() + 30
    while control.status(job)[0].state != "RUNNING" and time.monotonic() < deadline:
        time.sleep(0.1)
    started = time.monotonic()
    cluster.cancel(job)
    [result] = cluster.wait(job, timeout=30)
    assert result.status.state == "CANCELLED"
    assert time.monotonic() - started < 10


def test_bad_partition_is_a_clear_submit_error(cluster):
    with pytest.raises(SlurmCommandError, match="(?i)partition"):
        cluster.submit(SlurmJob(name="nowhere", partition="no-such-partition", command=["true"]))


def test_injection_through_slurm_executes_nothing(cluster, workdir):
    marker = os.path.join(workdir, "pwned")
    hostile = f"$(touch {marker}); `touch {marker}`\n#SBATCH --exclusive\ntouch {marker}"
    job = cluster.submit(SlurmJob(name="hostile", environment={"VALUE": hostile}, command=["printf", "%s", hostile]))
    [result] = cluster.wait(job, timeout=60)
    assert result.succeeded and result.stdout == hostile
    assert not os.path.exists(marker)


def test_one_scheduler_call_per_poll_cycle_for_many_jobs(workdir, slurm):
    backend = CommandBackend(LocalRunner())
    control = SlurmController(backend, workdir, min_interval=0.2, max_interval=0.5)
    jobs = [control.submit(SlurmJob(name=f"many-{i}", command=["true"])) for i in range(6)]
    jobs.append(control.submit(SlurmJob(name="many-array", array="0-9", command=["true"])))
    after_submit = backend.scheduler_calls
    results = control.wait(*jobs, timeout=120)
    assert len(results) == 16 and all(r.succeeded for r in results)
    assert backend.scheduler_calls - after_submit == control.poll_cycles


def test_backoff_while_nothing_changes(workdir, slurm):
    control = SlurmController(CommandBackend(LocalRunner()), workdir, min_interval=0.1, max_interval=0.8)
    job = control.submit(SlurmJob(name="slow", script="sleep 3"))
    intervals = []
    while not control.is_finished(job):
        control.poll()
        intervals.append(control.interval)
        time.sleep(control.interval)
    assert max(intervals) == pytest.approx(0.8)
    assert len(intervals) < 20  # ~3 s at a fixed 0.1 s would be ~30 polls


def test_job_forgotten_by_slurm_is_settled_from_its_exit_code_file(workdir, slurm):
    control = SlurmController(CommandBackend(LocalRunner()), workdir)
    job = control.submit(SlurmJob(name="forgotten", script="exit 4"))
    control.wait(job, timeout=60)
    # A new controller (e.g. after a restart) asking about a job id Slurm has purged:
    fresh = SlurmController(CommandBackend(LocalRunner()), workdir)
    purged = job.model_copy(update={"job_id": "999999", "keys": ["999999"]})
    os.rename(job.file(job.job_id, "exit"), purged.file("999999", "exit"))
    [status] = fresh.status(purged)
    assert status.state == "FAILED" and status.exit_code == 4


def test_ssh_refuses_an_unknown_host_key(sshd, workdir, tmp_path):
    other_known_hosts = tmp_path / "known_hosts"
    other_known_hosts.write_text("")
    cluster = SlurmCluster(transport="ssh", host="127.0.0.1", port=sshd.port, user=sshd.user, private_key=sshd.private_key,
                           known_hosts_file=str(other_known_hosts), working_dir=workdir)
    with pytest.raises(TransportError, match="known_hosts|not found"):
        cluster.submit(SlurmJob(command=["true"]))
    accepting = SlurmCluster(**{**cluster.model_dump(), "private_key": sshd.private_key, "known_hosts_policy": "accept-new"})
    [result] = accepting.wait(accepting.submit(SlurmJob(command=["true"])), timeout=60)
    assert result.succeeded
    assert "127.0.0.1" in other_known_hosts.read_text()


def test_ssh_with_a_wrong_key_fails_clearly_and_never_shows_the_key(sshd, workdir, tmp_path):
    import subprocess

    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "other")], check=True)
    wrong = (tmp_path / "other").read_text()
    cluster = SlurmCluster(transport="ssh", host="127.0.0.1", port=sshd.port, user=sshd.user, private_key=wrong,
                           known_hosts_file=str(sshd.known_hosts), working_dir=workdir)
    with pytest.raises(TransportError, match="Authentication failed") as info:
        cluster.submit(SlurmJob(command=["true"]))
    assert wrong.splitlines()[1] not in str(info.value) and wrong.splitlines()[1] not in repr(cluster)


def test_rest_with_a_bad_token_is_refused(slurmrestd, workdir):
    cluster = SlurmCluster(transport="rest", rest_url=slurmrestd.url, user="root", rest_token="not-a-token", working_dir=workdir)
    with pytest.raises(SlurmCommandError, match="slurmrestd"):
        cluster.submit(SlurmJob(command=["true"]))
    assert "not-a-token" not in repr(cluster)


def test_cluster_block_validates_transport_settings(workdir):
    with pytest.raises(ValueError, match="transport 'ssh' needs host, user, private_key"):
        SlurmCluster(transport="ssh", working_dir=workdir)
    with pytest.raises(ValueError, match="partition"):
        SlurmCluster(working_dir=workdir, partition="a b")
    with pytest.raises(ValueError, match="working_dir"):
        SlurmCluster(working_dir="scratch")
