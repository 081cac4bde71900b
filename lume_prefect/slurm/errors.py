"""Errors of the Slurm service. Each message names the job, field, host or command at fault."""

from __future__ import annotations

from lume_prefect.core.errors import LumeError


class SlurmError(LumeError, RuntimeError):
    """Base class of the Slurm service's errors."""


class SlurmCommandError(SlurmError):
    """A Slurm command (sbatch, squeue, scancel) or REST call failed."""

    def __init__(self, what: str, returncode: int | None, stderr: str):
        self.what, self.returncode, self.stderr = what, returncode, stderr.strip()
        code = "" if returncode is None else f" (exit {returncode})"
        super().__init__(f"{what} failed{code}: {self.stderr or 'no error output'}")


class TransportError(SlurmError):
    """The cluster could not be reached (SSH connection, host key, REST endpoint)."""


class JobFailed(SlurmError):
    """A job ended in a state other than COMPLETED; carries the state, why (``reason``: what the
    state means, Slurm's reason, the exit code) and the exit code."""

    def __init__(self, job_id: str, state: str, reason: str, exit_code: int | None = None):
        self.job_id, self.state, self.reason, self.exit_code = job_id, state, reason, exit_code
        super().__init__(f"Slurm job {job_id} ended {state}: {reason}")


class JobLost(SlurmError):
    """Slurm no longer knows a job and it left no exit-code file."""


class RemoteTaskError(SlurmError):
    """A Python function run as a Slurm job raised; the message carries its traceback."""


class ItemsFailed(SlurmError):
    """Some items of a mapped call failed; the others' values are kept.

    ``failed`` maps each failed item's index (in the order given) to its exception; ``results``
    holds every item's value in order, with the exception in place of each failed item's value."""

    def __init__(self, function: str, failed: dict[int, BaseException], results: list):
        self.function, self.failed, self.results = function, failed, results
        first = min(failed)
        more = f" (and {len(failed) - 1} more: items {', '.join(map(str, sorted(failed)[1:11]))}{'...' if len(failed) > 11 else ''})" if len(failed) > 1 else ""
        super().__init__(f"{len(failed)} of {len(results)} calls of {function} failed; item {first}: "
                         f"{type(failed[first]).__name__}: {failed[first]}{more}")
