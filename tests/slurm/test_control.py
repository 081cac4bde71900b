"""Job control against the real single-node Slurm through each transport: local commands, a
real sshd, and a real slurmrestd."""

from __future__ import annotations

import os
import subprocess
import time

import pytest
from prefect.testing.standard_test_suites import BlockStandardTestSuite

from lume_prefect.slurm import JobFailed, SlurmCluster, SlurmCommandError, SlurmJob, TransportError
from lume_prefect.slurm.control import SlurmController
from lume_prefect.slurm.transports import CommandBackend, LocalRunner

pytestmark = pytest.mark.usefixtures("slurm")

TRANSPORTS = ["local", "ssh", "rest"]


@pytest.fixture(params=TRANSPORTS)
def make_cluster(request, workdir, python):
    """Builds SlurmCluster blocks of this test's transport (extra settings: defaults, setup, ...)."""
    settings = {"transport": request.param, "working_dir": workdir, "max_poll_interval": 1.0}
    if request.param != "local":
        settings["python"] = python  # a remote cluster's interpreter is named; local jobs default to this one
    if request.param == "ssh":
        sshd = request.getfixturevalue("sshd")
        settings.update(host="127.0.0.1", port=sshd.port, user=sshd.user, private_key=sshd.private_key, known_hosts_file=str(sshd.known_hosts))
    elif request.param == "rest":
        rest = request.getfixturevalue("slurmrestd")
        settings.update(rest_url=rest.url, user=rest.user, rest_token=rest.token)
    made = []

    def make(**extra) -> SlurmCluster:
        made.append(SlurmCluster(**{**settings, **extra}))
        return made[-1]

    yield make
    for block in made:
        block.controller().close()


@pytest.fixture
def cluster(make_cluster):
    return make_cluster()


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


def test_memory_beyond_the_request_ends_out_of_memory(cluster):
    """The test cluster enforces memory without cgroups (JobAcctGatherParams=OverMemoryKill,
    sampled every second): slurmstepd kills a job whose processes use more than it requested.
    Slurm 22.05 itself reports such a job FAILED (JobLaunchFailure, signal 9) like any SIGKILL;
    slurmstepd's line in the job's stderr is what makes it OUT_OF_MEMORY, naming both."""
    job = cluster.submit(SlurmJob(name="greedy", memory="64M",
                                  script='python3 -c "b = bytearray(400*1024*1024); import time; time.sleep(5)"; echo survived'))
    [result] = cluster.wait(job, timeout=60)
    assert result.status.state == "OUT_OF_MEMORY", result.status
    assert "survived" not in result.stdout  # the whole step was killed, not just python3
    assert f"StepId={job.job_id}.batch exceeded memory limit" in result.stderr
    assert f"StepId={job.job_id}.batch used" in result.status.reason and "over its 64 MiB limit" in result.status.reason
    assert "Slurm reports FAILED" in result.status.reason
    with pytest.raises(JobFailed) as info:
        result.raise_for_state()
    assert info.value.state == "OUT_OF_MEMORY"
    assert f"Slurm job {job.job_id} ended OUT_OF_MEMORY: the job used more memory than it requested and was killed" in str(info.value)


def test_a_plain_sigkill_is_not_mistaken_for_out_of_memory(workdir, slurm):
    """Slurm reports a batch script killed by any SIGKILL exactly like a memory kill (FAILED,
    JobLaunchFailure, 0:9): without slurmstepd's line it stays FAILED."""
    control = SlurmController(CommandBackend(LocalRunner()), workdir)
    [result] = control.wait(control.submit(SlurmJob(name="killed", script="echo exceeded memory limit >&2; kill -9 $PPID")), timeout=60)
    assert result.status.state == "FAILED" and result.status.reason == "JobLaunchFailure"


def test_a_memory_kill_the_batch_script_outlived_is_still_out_of_memory(workdir, slurm):
    """slurmstepd (proctrack/linuxproc) kills the step's processes one by one: under load the
    batch script often outlives its killed command, records exit code 137 and exits with it
    (slurmctld: WEXITSTATUS 137, squeue: FAILED NonZeroExitCode), or is killed only afterwards
    (JobLaunchFailure with exit code 137 recorded). This job leaves exactly that record: its
    command is SIGKILLed after slurmstepd's line (written here as slurmstepd writes it, since the
    real race cannot be forced) reached its stderr. Without the line it is a plain FAILED 137."""
    line = ("echo \"slurmstepd-localhost: error: StepId=$SLURM_JOB_ID.batch exceeded memory limit "
            "(440401920 > 67108864), being killed\" >&2; ")
    control = SlurmController(CommandBackend(LocalRunner()), workdir)
    oom, plain = control.submit(SlurmJob(name="outlived", script=line + "kill -9 $$")), control.submit(SlurmJob(name="plain", script="kill -9 $$"))
    [result, plain_result] = control.wait(oom, plain, timeout=60)
    assert result.status.state == "OUT_OF_MEMORY", result.status
    assert result.status.exit_code == 137
    assert f"StepId={oom.job_id}.batch used 420 MiB, over its 64 MiB limit" in result.status.reason
    assert "Slurm reports FAILED, NonZeroExitCode" in result.status.reason
    assert plain_result.status.state == "FAILED" and plain_result.status.exit_code == 137, plain_result.status


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


def test_one_scheduler_call_per_poll_cycle_for_many_jobs(cluster):
    control = cluster.controller()
    jobs = [control.submit(SlurmJob(name=f"many-{i}", command=["true"])) for i in range(6)]
    jobs.append(control.submit(SlurmJob(name="many-array", array="0-9", command=["true"])))
    after_submit, cycles_before = control.backend.scheduler_calls, control.poll_cycles
    results = control.wait(*jobs, timeout=120)
    assert len(results) == 16 and all(r.succeeded for r in results)
    assert control.poll_cycles > cycles_before
    assert control.backend.scheduler_calls - after_submit == control.poll_cycles - cycles_before


class RecordingBackend(CommandBackend):
    """The real local backend, noting when each scheduler query ran and for how many jobs."""

    def __init__(self):
        super().__init__(LocalRunner())
        self.queries: list[tuple[float, int]] = []

    def query(self, job_ids):
        self.queries.append((time.monotonic(), len(job_ids)))
        return super().query(job_ids)


async def test_concurrent_waiters_share_each_poll_cycle(workdir, slurm):
    """The worker waits for many flow runs at once: their waits must not multiply the polls."""
    import asyncio

    backend = RecordingBackend()
    control = SlurmController(backend, workdir, min_interval=0.3, max_interval=0.6)
    jobs = [control.submit(SlurmJob(name=f"shared-{i}", script="sleep 2")) for i in range(5)]
    statuses = await asyncio.gather(*(control.await_finished(job, timeout=60) for job in jobs))
    assert [s.state for [s] in statuses] == ["COMPLETED"] * 5
    times = [at for at, _ in backend.queries]
    assert len(times) == control.poll_cycles == backend.scheduler_calls - len(jobs)
    assert backend.queries[0][1] == 5  # one query asks about every waiter's job
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert min(gaps) >= 0.9 * 0.3 - 0.01, gaps  # five waiters, yet never two polls within an interval


def test_block_defaults_resources_and_setup_reach_slurm(make_cluster, workdir):
    """Every transport hands Slurm the same options: the block's partition/account defaults (a
    job's own value wins), resources, dependency, comment, requeue, working directory, and runs
    the block's setup lines before the command."""
    cluster = make_cluster(partition="debug", account="physics", setup=["export FROM_SETUP=set-by-setup"])
    rundir = os.path.join(workdir, "run-here")
    os.makedirs(rundir)
    blocker = cluster.submit(SlurmJob(name="blocker", script="sleep 120"))
    job = cluster.submit(SlurmJob(
        name="resources", account="chemistry", nodes=1, ntasks=2, cpus_per_task=1, memory="100M", time_limit="00:07:00",
        dependency=f"afterany:{blocker.job_id}", comment="lume-resources", requeue=False, working_dir=rundir,
        script='echo "$FROM_SETUP"; pwd'))
    forever = cluster.submit(SlurmJob(name="forever", time_limit="UNLIMITED", dependency=f"afterany:{blocker.job_id}", command=["true"]))
    try:
        shown = scontrol_show_job(job.job_id)
        assert {key: shown[key] for key in ("JobName", "Partition", "Account", "NumNodes", "NumTasks", "CPUs/Task", "MinMemoryNode",
                                             "TimeLimit", "Dependency", "Comment", "Requeue", "WorkDir", "JobState")} == {
            "JobName": "resources", "Partition": "debug", "Account": "chemistry", "NumNodes": "1-1", "NumTasks": "2",
            "CPUs/Task": "1", "MinMemoryNode": "100M", "TimeLimit": "00:07:00", "Dependency": f"afterany:{blocker.job_id}(unfulfilled)",
            "Comment": "lume-resources", "Requeue": "0", "WorkDir": rundir, "JobState": "PENDING",
        }
        blocker_shown = scontrol_show_job(blocker.job_id)
        assert (blocker_shown["Partition"], blocker_shown["Account"]) == ("debug", "physics")
        assert scontrol_show_job(forever.job_id)["TimeLimit"] == "UNLIMITED"
    finally:
        cluster.cancel(blocker)
    [result] = cluster.wait(job, timeout=60)
    assert result.succeeded and result.stdout == f"set-by-setup\n{rundir}\n"
    [unlimited] = cluster.wait(forever, timeout=60)
    assert unlimited.succeeded


def test_a_comment_with_spaces_reaches_slurm_as_written(cluster):
    comment = "first scan, run 2 (retry)"
    job = cluster.submit(SlurmJob(name="commented", comment=comment, command=["true"]))
    [status] = cluster.status(job)
    assert status.comment == comment
    [result] = cluster.wait(job, timeout=60)
    assert result.succeeded


@pytest.mark.slow
def test_a_100_element_array_is_polled_calmly(workdir, slurm):
    """Elements finish one after another for seconds; the interval keeps growing (more gently
    while things change) instead of dropping to the minimum at each change."""
    control = SlurmController(CommandBackend(LocalRunner()), workdir)  # the block's defaults: 0.1 s to 5 s
    job = control.submit(SlurmJob(name="calm", array="0-99", command=["true"]))
    submit_calls = control.backend.scheduler_calls
    results = control.wait(job, timeout=300)
    assert len(results) == 100 and all(r.succeeded for r in results)
    assert control.poll_cycles < 50
    assert control.backend.scheduler_calls - submit_calls == control.poll_cycles  # one squeue per cycle


@pytest.mark.slow
def test_slurmd_killed_mid_job_ends_it_node_fail_with_the_reason(workdir, slurm):
    """A node daemon killed under a running job: Slurm marks the node down after SlurmdTimeout and
    the job NODE_FAIL; the controller reports that state and why. The cluster is restored after."""
    import signal

    from tests.slurm.conftest import ensure_slurm_up, kill_job_processes

    control = SlurmController(CommandBackend(LocalRunner()), workdir, max_interval=1.0)
    # Not requeued: Slurm would otherwise put the job back in the queue (the cluster's default
    # JobRequeue=1) and it would not end; the worker's jobs are --no-requeue too.
    job = control.submit(SlurmJob(name="orphaned", requeue=False, script="sleep 300"))
    deadline = time.monotonic() + 60
    while control.status(job)[0].state != "RUNNING" and time.monotonic() < deadline:
        time.sleep(0.2)
    [slurmd] = subprocess.run(["pgrep", "-x", "slurmd"], capture_output=True, text=True).stdout.split()
    os.kill(int(slurmd), signal.SIGKILL)
    try:
        [result] = control.wait(job, timeout=150)
        assert result.status.state == "NODE_FAIL"
        with pytest.raises(JobFailed) as info:
            result.raise_for_state()
        assert f"Slurm job {job.job_id} ended NODE_FAIL: a node of the job failed (slurmd stopped answering)" in str(info.value)
        assert "reason:" in str(info.value)
    finally:
        kill_job_processes(job.job_id)  # the job's own processes outlive slurmd
        ensure_slurm_up()
        control.cancel(job)
    assert subprocess.run(["sinfo", "-h", "-N", "-o", "%T"], capture_output=True, text=True).stdout.strip() == "idle"


def test_gpu_request_reaches_slurm(cluster):
    """This node has no GPUs: Slurm refuses a GPU request, which proves the request got there
    (a transport that dropped it would run the job)."""
    with pytest.raises(SlurmCommandError, match="(?i)gres|gpu"):
        cluster.submit(SlurmJob(name="wants-gpu", gpus="1", command=["true"]))


def scontrol_show_job(job_id: str) -> dict[str, str]:
    out = subprocess.run(["scontrol", "show", "job", "-o", job_id], capture_output=True, text=True, check=True).stdout
    return dict(token.partition("=")[::2] for token in out.split())


def test_long_wait_shows_progress_and_a_short_wait_stays_quiet(workdir, slurm, capfd, monkeypatch):
    control = SlurmController(CommandBackend(LocalRunner()), workdir, min_interval=0.1, max_interval=0.3)
    monkeypatch.setenv("TTY_COMPATIBLE", "1")  # stderr counts as a terminal, as in an interactive shell
    reports = []
    control.progress_after = 30
    control.wait(control.submit(SlurmJob(name="quick", command=["true"])), on_progress=lambda *r: reports.append(r))
    assert reports == [] and "Slurm jobs" not in capfd.readouterr().err

    control.progress_after = 1.0
    started = time.monotonic()
    slow = control.submit(SlurmJob(name="slow", array="0-2", script="sleep 3"))
    control.wait(slow, on_progress=lambda done, total, counts: reports.append((time.monotonic() - started, done, total, counts)))
    drawn = capfd.readouterr().err
    assert reports[0][0] >= 1.0  # nothing shown before the wait became long
    assert any(counts.get("RUNNING") for *_, counts in reports)
    assert reports[-1][1:] == (3, 3, {"COMPLETED": 3})
    assert "Slurm jobs" in drawn and "running=" in drawn and "3/3" in drawn and "completed=3" in drawn

    monkeypatch.setenv("TTY_COMPATIBLE", "0")  # stderr is a log file: no bar, the callback still reports
    reports.clear()
    control.progress_after = 0
    control.wait(control.submit(SlurmJob(name="logged", command=["true"])), on_progress=lambda *r: reports.append(r))
    assert reports[-1] == (1, 1, {"COMPLETED": 1})
    assert "Slurm jobs" not in capfd.readouterr().err


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


def test_rest_with_a_bad_or_expired_token_is_refused_naming_the_token(slurmrestd, workdir):
    expired = subprocess.run(["scontrol", "token", "username=root", "lifespan=1"], capture_output=True, text=True, check=True).stdout.strip().split("=", 1)[1]
    time.sleep(2)  # let the one-second token expire
    for token in ("not-a-token", expired):
        cluster = SlurmCluster(transport="rest", rest_url=slurmrestd.url, user="root", rest_token=token, working_dir=workdir)
        with pytest.raises(SlurmCommandError, match="slurmrestd could not authenticate user 'root' with rest_token") as info:
            cluster.submit(SlurmJob(command=["true"]))
        assert token not in str(info.value) and token not in repr(cluster)


def test_cluster_block_validates_transport_settings(workdir):
    with pytest.raises(ValueError, match="transport 'ssh' needs host, user, private_key"):
        SlurmCluster(transport="ssh", working_dir=workdir)
    with pytest.raises(ValueError, match="partition"):
        SlurmCluster(working_dir=workdir, partition="a b")
    with pytest.raises(ValueError, match="working_dir"):
        SlurmCluster(working_dir="scratch")


def test_jobs_python_is_this_interpreter_here_and_python3_on_a_remote_cluster(workdir):
    """Empty ``python``: ``local`` and ``subprocess`` jobs run the interpreter running lume-prefect
    (``sys.executable``), ``ssh`` and ``rest`` jobs ``python3`` from the cluster's PATH; a given one wins."""
    import sys

    remote = {"ssh": {"host": "login", "user": "lume", "private_key": "key"},
              "rest": {"rest_url": "http://slurm:6820", "user": "lume", "rest_token": "token"}}
    for transport in ("local", "subprocess", "ssh", "rest"):
        block = SlurmCluster(transport=transport, working_dir=workdir, **remote.get(transport, {}))
        assert block.python is None
        assert block.job_python == (sys.executable if transport in ("local", "subprocess") else "python3"), transport
        given = SlurmCluster(transport=transport, working_dir=workdir, python="/opt/lume/venv/bin/python", **remote.get(transport, {}))
        assert given.job_python == "/opt/lume/venv/bin/python", transport
    assert SlurmCluster(working_dir=workdir, python="  ").python is None  # the UI saves an emptied field as ""
    with pytest.raises(ValueError, match="python 'python3\\\\n#SBATCH --uid=0' must be a single line"):
        SlurmCluster(working_dir=workdir, python="python3\n#SBATCH --uid=0")
    description = SlurmCluster.model_json_schema()["properties"]["python"]["description"]  # what the UI shows
    assert "Empty: for 'local' and 'subprocess', the interpreter of the process that submits" in description
    assert "for 'ssh' and 'rest', 'python3' from the job's PATH" in description


class TestBlockStandards(BlockStandardTestSuite):
    """Prefect's own checks of a block's UI metadata (descriptions, docs URL, a working example)."""

    @pytest.fixture
    def block(self):
        return SlurmCluster

    def test_has_a_valid_image(self, block):
        # The standard check downloads the logo; offline, check the URL is set and https.
        assert str(block._logo_url).startswith("https://")


def test_secrets_stay_secret_when_saved_and_shown(sshd, workdir):
    cluster = SlurmCluster(transport="ssh", host="127.0.0.1", port=sshd.port, user=sshd.user, private_key=sshd.private_key,
                           private_key_passphrase="pass-phrase", working_dir=workdir)
    schema = SlurmCluster.model_json_schema()
    assert {"private_key", "private_key_passphrase", "rest_token"} <= set(schema["secret_fields"])
    key_line = sshd.private_key.splitlines()[1]
    shown = repr(cluster) + str(cluster.model_dump()) + cluster.model_dump_json()
    assert key_line not in shown and "pass-phrase" not in shown


def test_local_mode_has_the_same_job_control_without_slurm(workdir):
    cluster = SlurmCluster(transport="subprocess", working_dir=workdir, max_poll_interval=0.3, setup=["export FROM_SETUP=yes"])
    array = cluster.submit(SlurmJob(name="arr", array="0-2", script='echo "$FROM_SETUP $SLURM_ARRAY_TASK_ID"; exit $SLURM_ARRAY_TASK_ID'))
    long = cluster.submit(SlurmJob(name="long", script="sleep 300"))
    assert cluster.status(long)[0].state == "RUNNING"
    cluster.cancel(long)
    results = cluster.wait(array, timeout=60)
    assert [(r.status.state, r.exit_code, r.stdout) for r in results] == [
        ("COMPLETED", 0, "yes 0\n"), ("FAILED", 1, "yes 1\n"), ("FAILED", 2, "yes 2\n")]
    [cancelled] = cluster.wait(long, timeout=10)
    assert cancelled.status.state == "CANCELLED"
    with pytest.raises(JobFailed, match="CANCELLED"):
        cancelled.raise_for_state()


def test_a_job_is_found_again_by_its_id_from_another_process(make_cluster):
    first = make_cluster()
    job = first.submit(SlurmJob(name="found", array="0-2", time_limit="00:02:00", command=["true"]))
    first.wait(job, progress=False)
    other = make_cluster().controller()  # what a new process (the CLI) has: the id alone
    found = other.find_job(job.job_id)
    assert found is not None
    assert (found.output_prefix, found.keys, found.name) == (job.output_prefix, job.keys, "found")
    assert [r.status.state for r in other.wait(found, progress=False)] == ["COMPLETED"] * 3
    assert other.find_job("999999999") is None
