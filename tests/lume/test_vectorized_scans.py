"""run_scan calls a vectorized model once per batch on every executor (this process, a process
pool, a local Dask cluster, the real single-node Slurm cluster), splits its outputs back per
point, and stores them in bulk; a batch whose call raises is evaluated point by point, and
outputs of the wrong length fail every point of the batch with an error naming the output."""

from __future__ import annotations

import numpy as np
import pytest

from lume_prefect import run_scan
from tests.lume.vectorized_model import vquad_services
from tests.scans.test_executors import slurm_options

pytestmark = [pytest.mark.prefect, pytest.mark.slow]

GRID = {"k1": [-3.0, -1.0, 0.5, 2.0], "length": [0.1, 0.3]}


@pytest.mark.parametrize("executor", ["in-process", "processes", "dask", "slurm"])
def test_one_call_per_batch_on_every_executor(tmp_path, executor):
    services, model = vquad_services(tmp_path)
    options = slurm_options(tmp_path) if executor == "slurm" else {}
    scan = run_scan(model, GRID, services=services, executor=executor, batch_size=4, workers=2, progress=False, **options)

    assert (scan.points, scan.computed, scan.failed, scan.batches) == (8, 8, 0, 2)
    assert set(scan.frame["outputs.batch"]) == {4}  # every point was evaluated in a call of 4
    frame = scan.frame
    assert list(frame["outputs.strength"]) == pytest.approx(list(frame["inputs.k1"] * frame["inputs.length"]))
    stored = services.results.store().get_many(scan.keys)
    first = stored[scan.keys[0]]
    assert isinstance(first.outputs["strength"], float)
    profile = first.outputs["profile"]  # a row of the (4, 3) array: its own array, dtype and shape kept
    assert profile.dtype == np.float64 and profile.shape == (3,)
    np.testing.assert_allclose(profile, first.inputs["k1"] * np.linspace(0.0, 1.0, 3))

    again = run_scan(model, GRID, services=services, progress=False)
    assert (again.cached, again.computed) == (8, 0)


def test_what_a_vectorized_call_logs_names_the_points_of_its_batch(tmp_path):
    from tests.scans.test_executors import scan_logs

    services, model = vquad_services(tmp_path)
    points = [{"k1": k, "length": 0.3} for k in (-3.0, -1.0, 0.5, 2.0, 1.0, 3.0)]
    run_scan(model, points[1:3], services=services, progress=False)  # cached: the scan's batches skip points 1 and 2
    scan = run_scan(model, points, services=services, executor="processes", batch_size=2, workers=2, progress=False)
    assert (scan.computed, scan.cached, scan.batches) == (4, 2, 2)
    logs = scan_logs(scan.flow_run_id, "points 4-5: called on 2 points")
    lines = sorted(log.message for log in logs if log.message.endswith("called on 2 points"))
    assert lines == ["points 0, 3: called on 2 points", "points 4-5: called on 2 points"], [log.message for log in logs]


def test_index_ranges_name_a_batch_compactly():
    from lume_prefect.models.logs import index_ranges

    assert index_ranges([0, 1, 2, 3, 7, 9, 10]) == "0-3, 7, 9-10"
    assert index_ranges(list(range(0, 40, 2)), most=3) == "0, 2, 4, ... (20 points)"


def test_a_batch_whose_call_raises_is_evaluated_point_by_point(tmp_path):
    services, model = vquad_services(tmp_path)
    scan = run_scan(model, {"k1": [-1.0, 4.5, 2.0, 3.0]}, services=services, batch_size=2, progress=False)

    assert (scan.computed, scan.failed) == (3, 1)
    [failure] = scan.failures
    assert failure.index == 1 and failure.error_type == "ValueError" and "unstable lattice" in failure.message
    batches = dict(zip(scan.frame["inputs.k1"], scan.frame["outputs.batch"]))
    assert batches[-1.0] == 1 and batches[3.0] == 2  # the failing batch alone went point by point
    assert services.results.store().count(tags=[scan.tag]) == 3


def test_outputs_of_the_wrong_length_fail_every_point_of_the_batch_naming_the_output(tmp_path):
    services, model = vquad_services(tmp_path)
    scan = run_scan(model, {"k1": [-1.0, 2.0, 3.0], "label": ["short"]}, services=services, progress=False)

    assert (scan.computed, scan.failed) == (0, 3)
    assert all(f.error_type == "lume_prefect.models.errors.InvalidOutput" for f in scan.failures)
    assert f"model {model!r}: output 'strength' of the vectorized function must be a sequence of 3 values" in scan.failures[0].message
    assert services.results.store().count(tags=[scan.tag]) == 0


def test_a_single_run_calls_the_function_with_one_point(tmp_path):
    from lume_prefect import run_model

    services, model = vquad_services(tmp_path)
    run = run_model(model, {"k1": 2.0, "length": 0.5}, services=services)
    assert run.outputs["strength"] == pytest.approx(1.0) and run.outputs["batch"] == 1
    assert services.results.get(run.result.key, _sync=True).outputs["profile"].shape == (3,)
