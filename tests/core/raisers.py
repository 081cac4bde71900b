"""Functions that fail, run by the cross-process error tests (a module, so that a process pool
and Dask pickle them by reference and Slurm jobs by value)."""

from __future__ import annotations

from lume_prefect.slurm.errors import JobFailed


class UsersOwnError(Exception):
    """A user's error whose __init__ does not take its message: pickle cannot rebuild it."""

    def __init__(self, charge: float, limit: float):
        self.charge, self.limit = charge, limit
        super().__init__(f"charge {charge} above {limit}")


def fail_like_slurm(job_id: str) -> None:
    raise JobFailed(job_id, "TIMEOUT", "reached its time limit", 143)


def simulate(charge: float) -> float:
    if charge > 1.0:
        raise UsersOwnError(charge, 1.0)
    return charge * 2
