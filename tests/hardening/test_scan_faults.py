"""Scans, round 2 (issue 21): a process-pool worker that dies is named with its batch and points
and what was stored stays stored; an empty points file is named; a plot is checked before the run."""

from __future__ import annotations

import pytest

from lume_prefect.scans.errors import EmptyScan, WorkerDied
from tests.scans.conftest import quad_services, services_with_live_code  # noqa: F401 - quad_services is a fixture

DIES_AT_13 = '''
import os

from lume_prefect.models import ModelSpec

spec = ModelSpec(name="{name}", version="1.0.0", author="tests", laboratory="test", facility="test", beampath="test",
                 inputs=[{{"name": "x", "range": [0, 100]}}], outputs=[{{"name": "y"}}])


@spec.flow
def dies(x: float) -> dict:
    if x == 13:
        os._exit(9)  # the worker process ends: nothing can catch it
    return {{"y": 2 * x}}
'''


@pytest.mark.prefect
def test_a_dead_process_worker_is_named_with_its_batch_and_points_and_the_stored_stay(tmp_path):
    from lume_prefect.scans import run_scan

    services, model = services_with_live_code(tmp_path, DIES_AT_13, "dies")
    # one worker, batches of 4 in order: batches 0-2 are stored before batch 3 (points 12-15) kills its worker
    with pytest.raises(WorkerDied) as info:
        run_scan(model, [{"x": float(i)} for i in range(20)], services=services, executor="processes", workers=1, batch_size=4)
    died = info.value
    assert died.batch == 3 and died.points == [12, 13, 14, 15] and died.stored == 12
    assert str(died).startswith(f"scan of model {model!r}: the worker process running batch 3 (points 12, 13, 14, 15) died: ")
    assert "12 points stored before stay stored" in str(died)
    assert isinstance(died, RuntimeError)
    assert services.results.store().count(model=model) == 12
    # run again without the deadly point: the 12 are cached
    again = run_scan(model, [{"x": float(i)} for i in range(20) if i != 13], services=services, executor="processes", workers=1)
    assert (again.cached, again.computed) == (12, 7)


@pytest.mark.unit
@pytest.mark.parametrize("content", [b"", b"\n\n", b"x\n"])
def test_an_empty_points_file_is_named(tmp_path, content):
    from lume_prefect.scans.points import as_points

    path = tmp_path / "points.csv"
    path.write_bytes(content)
    with pytest.raises(EmptyScan, match=f"points file '{path}'"):
        as_points("m", str(path))


@pytest.mark.prefect
@pytest.mark.parametrize(
    "plot, message",
    [
        ({"y": "nope", "x": "k1"}, "plot y='nope' is not an input or declared output of"),
        ({"y": "focal_length", "x": "nope"}, "plot x='nope' is not an input or declared output of"),
        ({"y": "focal_length", "x": "k1", "colour": "red"}, "plot must be a dict of y, x, kind, title"),
        ({"y": "focal_length", "kind": "pie"}, "plot kind must be one of scatter, line, history"),
        ({"y": "focal_length"}, "a scatter plot needs x"),
    ],
)
def test_a_bad_plot_is_refused_before_the_scan_runs(quad_services, plot, message):
    from lume_prefect.scans import run_scan

    services, model = quad_services
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        run_scan(model, {"k1": [1.0, 2.0]}, services=services, plot=plot)
    assert services.results.store().count(model=model) == 0  # nothing ran


@pytest.mark.prefect
def test_a_good_plot_still_publishes(quad_services):
    from lume_prefect.scans import run_scan

    services, model = quad_services
    assert run_scan(model, {"k1": [1.0, 2.0]}, services=services, plot={"y": "focal_length", "x": "k1"}).computed == 2
