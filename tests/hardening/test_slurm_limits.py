"""Slurm: a time limit Slurm would carry over (99:99:99 -> 4-04:41:00) or read as no limit at
all (0, 00:00:00) is refused naming the field; UNLIMITED says no limit."""

from __future__ import annotations

import pytest

from lume_prefect.slurm import SlurmJob

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "limit, problem",
    [
        ("99:99:99", "minutes 99 is over 59"),
        ("10:60", "seconds 60 is over 59"),
        ("1-24", "hours 24 is over 23"),
        ("1-00:60", "minutes 60 is over 59"),
        ("0", "is zero, which Slurm reads as no limit at all"),
        ("00:00:00", "is zero"),
        ("0-0", "is zero"),
    ],
)
def test_a_time_limit_slurm_would_change_is_refused(limit, problem):
    with pytest.raises(ValueError, match=f"time_limit '{limit}'.*{problem}"):
        SlurmJob(command=["true"], time_limit=limit)


@pytest.mark.parametrize("limit", ["60", "90:30", "0:30", "01:30:00", "99:59:59", "1-12", "1-12:30:00", "5-0", "UNLIMITED"])
def test_good_time_limits_are_kept_as_written(limit):
    assert SlurmJob(command=["true"], time_limit=limit).time_limit == limit


def test_slurm_submit_time_0_is_one_line():
    from tests.hardening.test_profiles import lume

    done = lume("slurm", "submit", "hpc", "--time", "0", "--", "true")
    assert done.returncode == 1 and done.stderr.count("\n") == 1 and "time_limit '0' is zero" in done.stderr
