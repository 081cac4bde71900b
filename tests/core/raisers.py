"""Functions that fail, run by the cross-process error tests (a module, so that a process pool
and Dask pickle them by reference and Slurm jobs by value)."""

from __future__ import annotations

import threading

from lume_prefect.slurm.errors import JobFailed


class UsersOwnError(Exception):
    """A user's error that cannot travel: its __init__ does not take its message (pickle cannot
    rebuild it), and it holds a lock (pickle cannot even write it; this holds also where tblib,
    which Dask installs, rebuilds errors of the first kind)."""

    def __init__(self, charge: float, limit: float):
        self.charge, self.limit = charge, limit
        self.guard = threading.Lock()
        super().__init__(f"charge {charge} above {limit}")


def fail_like_slurm(job_id: str) -> None:
    raise JobFailed(job_id, "TIMEOUT", "reached its time limit", 143)


def count_results(url: str) -> int:
    """Open the SQL results store at ``url`` and count its results (raises where the store is refused)."""
    from lume_prefect.results import SQLResultsStore

    return SQLResultsStore(url).count()


def simulate(charge: float) -> float:
    if charge > 1.0:
        raise UsersOwnError(charge, 1.0)
    return charge * 2
