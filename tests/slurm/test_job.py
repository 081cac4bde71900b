"""SlurmJob validation and script rendering: bad values are refused naming the field, and every
value that gets through is quoted so that running the script executes nothing extra."""

from __future__ import annotations

import os
import subprocess
from datetime import timedelta

import pytest
from pydantic import ValidationError

from lume_prefect.slurm.job import SlurmJob, render_script
from lume_prefect.slurm.states import JobStatus, memory_kill, parse_rest_jobs, parse_squeue

pytestmark = pytest.mark.unit


def _error(**fields) -> str:
    with pytest.raises(ValidationError) as info:
        SlurmJob(**{"command": ["true"], **fields})
    return str(info.value)


@pytest.mark.parametrize(
    "field, value",
    [
        ("name", "x\n#SBATCH --partition=evil"),
        ("name", "job; touch /tmp/pwned"),
        ("name", "$(touch /tmp/pwned)"),
        ("partition", "debug --account=other"),
        ("partition", "debug\n#SBATCH --qos=high"),
        ("account", "a`id`"),
        ("qos", "normal;reboot"),
        ("memory", "4G --exclusive"),
        ("time_limit", "10\n#SBATCH --mem=1T"),
        ("gpus", "1 --partition=gpu"),
        ("array", "0-9; rm -rf /"),
        ("dependency", "afterok:1 --exclusive"),
        ("dependency", "whenever:12"),
        ("comment", "hi\n#SBATCH --exclusive"),
        ("comment", 'ends the quote" --exclusive "'),
        ("comment", "escapes \\\" --exclusive"),
        ("working_dir", "/tmp/x\n#SBATCH --exclusive"),
        ("working_dir", "relative/dir"),
        ("working_dir", "/tmp/with space"),
    ],
)
def test_injection_into_header_values_is_refused_naming_the_field(field, value):
    message = _error(**{field: value})
    assert field in message
    assert repr(value) in message or value.splitlines()[0] in message


def test_environment_names_must_be_variable_names():
    assert "environment name" in _error(environment={"PATH; touch /tmp/x": "1"})
    assert "environment name" in _error(environment={"1ABC": "1"})


def test_exactly_one_of_command_or_script():
    with pytest.raises(ValidationError, match="exactly one of command or script"):
        SlurmJob()
    with pytest.raises(ValidationError, match="exactly one of command or script"):
        SlurmJob(command=["true"], script="true")
    with pytest.raises(ValidationError, match="command is empty"):
        SlurmJob(command=[])


def test_time_limit_forms():
    assert SlurmJob(command=["true"], time_limit=5).time_limit == "5"
    assert SlurmJob(command=["true"], time_limit=timedelta(hours=25, seconds=3)).time_limit == "1-01:00:03"
    assert SlurmJob(command=["true"], time_limit="00:00:30").time_limit == "00:00:30"
    assert "time_limit" in _error(time_limit=0)


def test_array_indices():
    assert SlurmJob(command=["true"], array="0-4:2,7%2").array_indices() == [0, 2, 4, 7]
    assert SlurmJob(command=["true"]).array_indices() == []


def test_header_has_exactly_the_requested_directives():
    job = SlurmJob(name="scan", partition="debug", cpus_per_task=2, memory="1G", time_limit="00:10:00",
                   gpus="a100:2", array="0-3", comment="prefect-flow-run=abc", requeue=False, command=["true"])
    script = render_script(job, "/scratch/out/scan-1")
    directives = [line for line in script.splitlines() if line.startswith("#SBATCH")]
    assert directives == [
        "#SBATCH --job-name=scan", "#SBATCH --output=/scratch/out/scan-1.%A_%a.out", "#SBATCH --error=/scratch/out/scan-1.%A_%a.err",
        "#SBATCH --partition=debug", "#SBATCH --cpus-per-task=2", "#SBATCH --mem=1G", "#SBATCH --time=00:10:00",
        "#SBATCH --gpus=a100:2", "#SBATCH --array=0-3", "#SBATCH --comment=prefect-flow-run=abc", "#SBATCH --no-requeue",
    ]


def test_setup_lines_cannot_add_directives():
    with pytest.raises(ValueError, match="setup line"):
        render_script(SlurmJob(command=["true"]), "/tmp/x", setup=["#SBATCH --exclusive"])
    with pytest.raises(ValueError, match="setup line"):
        render_script(SlurmJob(command=["true"]), "/tmp/x", setup=["module load a\nrm -rf /"])


HOSTILE = [
    "$(touch {marker})",
    "`touch {marker}`",
    "'; touch {marker}; '",
    '"; touch {marker}; "',
    "x\ntouch {marker}",
    "x\n#SBATCH --exclusive\ntouch {marker}",
]


@pytest.mark.parametrize("template", HOSTILE)
def test_hostile_environment_values_and_arguments_execute_nothing(tmp_path, template):
    """Run the rendered script with bash (no Slurm needed): the values arrive verbatim, nothing runs."""
    marker = tmp_path / "pwned"
    value = template.format(marker=marker)
    envfile = tmp_path / "job.env"
    job = SlurmJob(environment={"HOSTILE": value}, command=["bash", "-c", 'printf "%s" "$HOSTILE" > "$0"; printf "%s" "$1"', str(envfile), value])
    script = render_script(job, str(tmp_path / "job"))
    assert [line for line in script.splitlines() if line.startswith("#SBATCH")] == [
        line for line in render_script(SlurmJob(command=["true"]), str(tmp_path / "job")).splitlines() if line.startswith("#SBATCH")
    ]
    (tmp_path / "job.sh").write_text(script)
    done = subprocess.run(["bash", str(tmp_path / "job.sh")], capture_output=True, text=True,
                          env={**os.environ, "SLURM_JOB_ID": "7"}, timeout=30)
    assert done.returncode == 0, done.stderr
    assert done.stdout == value
    assert envfile.read_text() == value
    assert (tmp_path / "job.7.exit").read_text().strip() == "0"
    assert not marker.exists()


def test_command_string_is_split_not_run_by_a_shell(tmp_path):
    marker = tmp_path / "pwned"
    job = SlurmJob(command=f"echo hello; touch {marker}")
    assert job.command == ["echo", "hello;", "touch", str(marker)]
    (tmp_path / "job.sh").write_text(render_script(job, str(tmp_path / "job")))
    done = subprocess.run(["bash", str(tmp_path / "job.sh")], capture_output=True, text=True, env={**os.environ, "SLURM_JOB_ID": "8"})
    assert done.stdout == f"hello; touch {marker}\n"
    assert not marker.exists()


def test_script_cannot_skip_the_exit_code_record(tmp_path):
    job = SlurmJob(script="echo before; exit 7\necho never")
    (tmp_path / "job.sh").write_text(render_script(job, str(tmp_path / "job")))
    done = subprocess.run(["bash", str(tmp_path / "job.sh")], capture_output=True, text=True, env={**os.environ, "SLURM_JOB_ID": "9"})
    assert done.returncode == 7 and done.stdout == "before\n"
    assert (tmp_path / "job.9.exit").read_text().strip() == "7"


def test_parse_squeue_and_rest_output():
    statuses = parse_squeue("12|12|TIMEOUT|TimeLimit|1:00|sim|(null)\n13_2|13|CANCELLED by 0|None|UNLIMITED|arr|prefect-flow-run=x|y\n")
    assert statuses["12"].state == "TIMEOUT" and statuses["12"].reason == "TimeLimit"
    assert "time limit" in statuses["12"].explanation() and "TimeLimit" in statuses["12"].explanation()
    assert statuses["13_2"].state == "CANCELLED" and statuses["13_2"].comment == "prefect-flow-run=x|y"
    rest = parse_rest_jobs({"jobs": [{"job_id": 5, "array_job_id": 0, "array_task_id": None, "job_state": "FAILED",
                                      "state_reason": "NonZeroExitCode", "exit_code": 3 << 8, "name": "n", "comment": ""}]})
    assert rest["5"].exit_code == 3 and not rest["5"].succeeded
    assert JobStatus(job_id="1", state="COMPLETED").succeeded


def test_a_memory_kill_by_slurmstepd_becomes_out_of_memory():
    """Slurm 22.05's own report of an OverMemoryKill is FAILED/JobLaunchFailure/0:9; the stderr
    line slurmstepd writes (here a real one from the test cluster) is what tells it apart."""
    stderr = ("slurmstepd-localhost: error: StepId=2041.batch exceeded memory limit (436264960 > 67108864), being killed\n"
              "slurmstepd-localhost: error: Exceeded job memory limit\n"
              "slurmstepd-localhost: error: *** JOB 2041 ON localhost CANCELLED AT 2026-11-25T15:29:04 ***\n")
    failed = JobStatus(job_id="2041", state="FAILED", reason="JobLaunchFailure")
    oom = memory_kill(failed, stderr)
    assert oom.state == "OUT_OF_MEMORY"
    assert oom.reason == "StepId=2041.batch used 416 MiB, over its 64 MiB limit (slurmstepd OverMemoryKill; Slurm reports FAILED, JobLaunchFailure)"
    assert oom.explanation().startswith("Slurm job 2041 ended OUT_OF_MEMORY: the job used more memory than it requested and was killed; ")
    assert memory_kill(failed, "Killed\n") == failed  # any other SIGKILL stays FAILED
    assert memory_kill(failed, None) == failed
    cancelled = JobStatus(job_id="2041", state="CANCELLED")
    assert memory_kill(cancelled, stderr) == cancelled


@pytest.mark.parametrize(
    "state, reason, words",
    [
        ("FAILED", "NonZeroExitCode", "exited with a non-zero code"),
        ("TIMEOUT", "TimeLimit", "time limit"),
        ("CANCELLED", "None", "cancelled"),
        ("OUT_OF_MEMORY", "OutOfMemory", "more memory than it requested"),
        ("NODE_FAIL", "NodeDown", "node of the job failed"),
    ],
)
def test_each_final_state_becomes_a_failure_that_says_why(state, reason, words):
    from lume_prefect.slurm import JobFailed, JobResult

    status = parse_squeue(f"41|41|{state}|{reason}|00:01:00|sim|(null)\n")["41"]
    result = JobResult(status=status, exit_code=None)
    assert status.is_final and not result.succeeded
    with pytest.raises(JobFailed) as info:
        result.raise_for_state()
    message = str(info.value)
    assert info.value.state == state and message.startswith(f"Slurm job 41 ended {state}: ") and words in message
    assert message.count("Slurm job 41") == 1 and message == status.explanation()
    if reason not in ("None", "NonZeroExitCode"):
        assert f"reason: {reason}" in message


def test_completed_is_success_unless_the_exit_code_says_otherwise():
    from lume_prefect.slurm import JobResult

    status = parse_squeue("42|42|COMPLETED|None|1:00|sim|(null)\n")["42"]
    assert JobResult(status=status, exit_code=0).raise_for_state().succeeded
    assert status.explanation() == "Slurm job 42 COMPLETED"
    assert not JobResult(status=status, exit_code=2).succeeded


def test_rest_properties_carry_the_same_options_as_the_sbatch_header():
    """slurmrestd ignores #SBATCH lines; its properties use the v0.0.38 names and units."""
    from lume_prefect.slurm.transports import _minutes, rest_job_properties

    job = SlurmJob(name="scan", partition="debug", account="physics", nodes=2, ntasks=4, cpus_per_task=2, memory="2G",
                   time_limit="1-02:30", gpus="a100:2", array="0-3%2", dependency="afterok:7", comment="c=1",
                   requeue=False, working_dir="/scratch/w", environment={"A": "1"}, command=["true"])
    properties = rest_job_properties(job, "/scratch/out/scan-1")
    assert properties == {
        "environment": {"PATH": os.environ["PATH"], "A": "1"}, "current_working_directory": "/scratch/w",
        "name": "scan", "standard_output": "/scratch/out/scan-1.%A_%a.out", "standard_error": "/scratch/out/scan-1.%A_%a.err",
        "partition": "debug", "account": "physics", "nodes": "2", "tasks": 4, "cpus_per_task": 2,
        "memory_per_node": 2048, "time_limit": 24 * 60 + 150, "gpus": "a100:2", "array": "0-3%2",
        "dependency": "afterok:7", "comment": "c=1", "no_requeue": True,
    }
    assert rest_job_properties(job.model_copy(update={"requeue": True}), "/o/p")["requeue"] is True
    assert [_minutes(t) for t in ("5", "0:30", "01:30:00", "1-2", "1-02:30", "1-00:00:01", "UNLIMITED")] == \
        [5, 1, 90, 26 * 60, 26 * 60 + 30, 24 * 60 + 1, 0xFFFFFFFF]


def test_a_comment_with_spaces_is_quoted_for_sbatch():
    job = SlurmJob(comment="first scan, run 2 (retry)", command=["true"])
    assert '#SBATCH --comment="first scan, run 2 (retry)"' in render_script(job, "/scratch/out/c")
    assert "#SBATCH --comment=plain-word" in render_script(SlurmJob(comment="plain-word", command=["true"]), "/scratch/out/c")


def test_poll_intervals_must_be_in_order():
    from pydantic import ValidationError

    from lume_prefect.slurm import SlurmCluster

    with pytest.raises(ValidationError, match=r"min_poll_interval \(10.0\) must not exceed max_poll_interval \(1.0\)"):
        SlurmCluster(working_dir="/scratch", min_poll_interval=10, max_poll_interval=1)
    assert SlurmCluster(working_dir="/scratch", min_poll_interval=2, max_poll_interval=2).max_poll_interval == 2
