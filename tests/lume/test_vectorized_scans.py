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


def test_a_one_call_scan_here_builds_the_frame_a_plotted_scan_builds(tmp_path):
    """In this process a vectorized scan builds its frame in a thread while its flow run ends;
    a scan with a plot (which needs the frame in the run) builds it in the run: the same frame."""
    services, model = vquad_services(tmp_path)
    points = [{"k1": k, "length": 0.1 + i / 10, "label": "q" if i % 2 else "p"} for i, k in enumerate((-3.0, -1.0, 0.5, 2.0, 1.0))]
    deferred = run_scan(model, points, services=services, progress=False)
    plotted = run_scan(model, points, services=services, refresh=True, plot={"y": "strength", "x": "k1"}, progress=False)

    assert (deferred.computed, plotted.computed) == (5, 5) and deferred.keys == plotted.keys
    differ = ["created", "flow_run_id", "tags"]  # each scan's own run, time and scan tag
    assert list(deferred.frame.columns) == list(plotted.frame.columns)
    assert deferred.frame.drop(columns=differ + ["outputs.profile"]).equals(plotted.frame.drop(columns=differ + ["outputs.profile"]))
    for a, b in zip(deferred.frame["outputs.profile"], plotted.frame["outputs.profile"]):
        np.testing.assert_array_equal(a, b)
    assert list(deferred.frame["tags"]) == [[deferred.tag]] * 5
    assert set(deferred.frame["flow_run_id"]) == {str(deferred.flow_run_id)}


def test_refused_points_leave_no_flow_run_and_nothing_stored(tmp_path):
    """The points are checked while the API creates the scan's flow run: refused, the run is deleted again."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName

    from lume_prefect.scans import InvalidPoints

    services, model = vquad_services(tmp_path)
    with pytest.raises(InvalidPoints, match="k1"):
        run_scan(model, [{"k1": 1.0}, {"k1": 99.0}], services=services, progress=False)
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[f"scan {model} 1.0.0"])))
    assert runs == []
    assert services.results.store().count(model=model) == 0
    scan = run_scan(model, [{"k1": 1.0}], services=services, progress=False)  # the same model, good points: one run
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[f"scan {model} 1.0.0"])))
    assert [run.id for run in runs] == [scan.flow_run_id] and runs[0].state.is_completed()


GC_PROBE = '''
"""Tells whether the cyclic garbage collector was on while the model ran."""

import gc

from lume_prefect.models import ModelSpec

spec = ModelSpec(
    name="{name}", version="1.0.0", author="tests", laboratory="test", facility="test", beampath="test", vectorized=VECTORIZED,
    inputs=[{{"name": "x", "range": [0.0, 1.0], "default": 0.5}}], outputs=[{{"name": "collecting", "type": "int"}}],
)


@spec.flow
def gcprobe(x):
    on = int(gc.isenabled())
    return {{"collecting": [on] * len(x)}} if VECTORIZED else {{"collecting": on}}
'''


@pytest.mark.parametrize("vectorized", [True, False])
def test_a_vectorized_scan_here_runs_without_cyclic_garbage_collection_and_others_with_it(tmp_path, vectorized):
    """A vectorized model in this process: thousands of dicts without cycles, mostly gone when the
    scan returns, which a collection meanwhile would only walk (with every object of the
    process). A model called point by point collects its own garbage as it runs."""
    import gc
    from collections.abc import Sequence

    from tests.scans.conftest import services_with_live_code

    class Points(Sequence):  # tells whether the collector was on while the scan read its points
        def __init__(self, items):
            self.items, self.collecting = items, set()

        def __getitem__(self, index):
            self.collecting.add(gc.isenabled())
            return self.items[index]

        def __len__(self):
            return len(self.items)

    services, model = services_with_live_code(tmp_path, GC_PROBE.replace("VECTORIZED", str(vectorized)), "gcprobe")
    points = Points([{"x": 0.1}, {"x": 0.2}, {"x": 0.3}])
    scan = run_scan(model, points, services=services, progress=False)
    assert scan.computed == 3 and set(scan.frame["outputs.collecting"]) == {0 if vectorized else 1}
    assert points.collecting == {False}  # the plan of any scan in this process: points, check, keys, lookup
    assert gc.isenabled()
