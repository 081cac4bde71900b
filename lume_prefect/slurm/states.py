"""Slurm job states, the scheduler's machine-readable status output, and what each final state means."""

from __future__ import annotations

import re
from typing import Optional

from pydantic import BaseModel, Field

ACTIVE_STATES = frozenset(
    {"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "REQUEUED", "REQUEUE_FED",
     "REQUEUE_HOLD", "RESIZING", "SIGNALING", "STAGE_OUT", "STOPPED", "RESV_DEL_HOLD"}
)
FINAL_STATES = frozenset(
    {"COMPLETED", "FAILED", "TIMEOUT", "CANCELLED", "OUT_OF_MEMORY", "NODE_FAIL", "BOOT_FAIL",
     "DEADLINE", "PREEMPTED", "SPECIAL_EXIT", "REVOKED", "LOST"}
)
# Why a job that ended in each state did not succeed, for people reading a failed run.
FAILURE_EXPLANATIONS = {
    "FAILED": "the job's command exited with a non-zero code",
    "TIMEOUT": "the job ran past its time limit and Slurm killed it",
    "CANCELLED": "the job was cancelled (scancel, an administrator, or Prefect)",
    "OUT_OF_MEMORY": "the job used more memory than it requested and was killed",
    "NODE_FAIL": "a node of the job failed (slurmd stopped answering)",
    "BOOT_FAIL": "a node of the job failed to boot",
    "DEADLINE": "the job reached its deadline before it could finish",
    "PREEMPTED": "the job was preempted by a higher-priority job",
    "SPECIAL_EXIT": "the job was held after a special exit",
    "REVOKED": "the job was revoked by a sibling cluster",
    "LOST": "Slurm no longer knows the job and it left no exit code",
}

# Without cgroups, Slurm enforces memory by polling (JobAcctGatherType=jobacct_gather/linux with
# JobAcctGatherParams=OverMemoryKill): slurmstepd kills the step whose processes' RSS exceeds the
# job's request and writes this line to the job's stderr. slurmctld then reports the job FAILED,
# reason JobLaunchFailure, exit code 0:9 (Slurm 22.05), exactly as for any other SIGKILL of the
# batch script; only cgroup enforcement (task/cgroup) makes Slurm itself report OUT_OF_MEMORY.
# The step's processes are killed one by one, so under load the batch script may outlive its
# killed command and record exit code 137 (then Slurm says FAILED, NonZeroExitCode, 137:0).
_MEMORY_KILL = re.compile(r"slurmstepd\S*: error: (StepId=\S+) exceeded memory limit \((\d+) > (\d+)\), being killed")


def memory_kill(status: "JobStatus", stderr: Optional[str]) -> "JobStatus":
    """``status`` as OUT_OF_MEMORY when slurmstepd's OverMemoryKill ended the job, else unchanged.

    Slurm's own state for such a job is FAILED with a misleading reason (JobLaunchFailure); the
    step's stderr is the evidence of the memory kill, and the reason keeps what Slurm reported."""
    if status.state != "FAILED" or not stderr:
        return status
    match = _MEMORY_KILL.search(stderr)
    if match is None:
        return status
    step, used, limit = match.group(1), int(match.group(2)), int(match.group(3))
    reported = f"Slurm reports FAILED, {status.reason}" if status.reason else "Slurm reports FAILED"
    reason = (f"{step} used {used / 2**20:.0f} MiB, over its {limit / 2**20:.0f} MiB limit "
              f"(slurmstepd OverMemoryKill; {reported})")
    return status.model_copy(update={"state": "OUT_OF_MEMORY", "reason": reason})


# squeue fields, one line per job (array elements expanded with -r); the comment is last
# because it is the only field another user could fill with the separator.
SQUEUE_FORMAT = "%i|%A|%T|%r|%l|%j|%k"


class JobStatus(BaseModel):
    """What the scheduler says about one job (or one array element)."""

    job_id: str = Field(description="The job key: the job id, or ARRAYID_INDEX for an array element.")
    state: str = Field(description="Slurm's state, e.g. PENDING, RUNNING, COMPLETED, TIMEOUT.")
    reason: str = Field(default="", description="Slurm's reason for the state (empty when None).")
    exit_code: Optional[int] = Field(default=None, description="The command's exit code, when known.")
    signal: Optional[int] = Field(default=None, description="The signal that ended the command, when known.")
    time_limit: str = Field(default="", description="The job's time limit as Slurm shows it.")
    name: str = Field(default="", description="The job name.")
    comment: str = Field(default="", description="The job comment (the flow run id for worker jobs).")

    @property
    def is_final(self) -> bool:
        return self.state in FINAL_STATES

    @property
    def succeeded(self) -> bool:
        return self.state == "COMPLETED" and (self.exit_code in (None, 0))

    def explanation(self) -> str:
        """One sentence saying how the job ended, with Slurm's reason and the exit code."""
        if self.succeeded:
            return f"Slurm job {self.job_id} COMPLETED"
        return f"Slurm job {self.job_id} ended {self.state}: {self.detail()}"

    def detail(self) -> str:
        """Why the job did not succeed: what the state means, Slurm's reason, exit code, signal."""
        detail = FAILURE_EXPLANATIONS.get(self.state, f"the job is {self.state}")
        if self.state == "TIMEOUT" and self.time_limit:
            detail += f" (time limit {self.time_limit})"
        parts = [detail]
        if self.reason and self.reason not in ("None", "NonZeroExitCode"):
            parts.append(f"reason: {self.reason}")
        if self.exit_code is not None:
            parts.append(f"exit code {self.exit_code}")
        if self.signal:
            parts.append(f"signal {self.signal}")
        return "; ".join(parts)


def base_state(state: str) -> str:
    """``CANCELLED by 0`` → ``CANCELLED``; squeue and REST append detail to some states."""
    return state.split()[0].upper() if state else "UNKNOWN"


def parse_squeue(output: str) -> dict[str, JobStatus]:
    """Parse ``squeue -h -r -t all -o SQUEUE_FORMAT`` output into statuses by job key."""
    statuses: dict[str, JobStatus] = {}
    for line in output.splitlines():
        fields = line.split("|", 6)
        if len(fields) != 7:
            continue
        key, _raw_id, state, reason, limit, name, comment = fields
        statuses[key] = JobStatus(
            job_id=key,
            state=base_state(state),
            reason="" if reason in ("None", "(null)") else reason,
            time_limit=limit,
            name=name,
            comment="" if comment == "(null)" else comment,
        )
    return statuses


def parse_rest_jobs(payload: dict) -> dict[str, JobStatus]:
    """Parse slurmrestd's ``GET /slurm/v0.0.38/jobs`` (or ``squeue --json``) payload."""
    statuses: dict[str, JobStatus] = {}
    for job in payload.get("jobs", []):
        task = job.get("array_task_id")
        array_id = job.get("array_job_id") or 0
        key = f"{array_id}_{task}" if array_id and task is not None else str(job["job_id"])
        raw_exit = job.get("exit_code")
        exit_code = signal = None
        if isinstance(raw_exit, int) and base_state(job.get("job_state", "")) in FINAL_STATES:
            exit_code, signal = (raw_exit >> 8) & 0xFF, raw_exit & 0x7F
        limit = job.get("time_limit")
        statuses[key] = JobStatus(
            job_id=key,
            state=base_state(job.get("job_state", "")),
            reason="" if job.get("state_reason") in (None, "None") else job["state_reason"],
            exit_code=exit_code,
            signal=signal or None,
            time_limit="" if limit in (None, 0) else f"{limit} min",
            name=job.get("name", ""),
            comment=job.get("comment") or "",
        )
    return statuses
