"""run_scan in-process on real stores: batches, one cache lookup, bulk storage, failures, bad scans."""

from __future__ import annotations

import time

import pytest

from lume_prefect import run_scan
from lume_prefect.scans import EmptyScan, InvalidPoints, ScanFailed, ScanStoreError

pytestmark = pytest.mark.prefect

GRID = {"k1": [-4.5, -2.0, 0.5, 3.0, 4.5], "length": [0.1, 0.2, 0.5]}  # k1 = 4.5 fails (unstable lattice)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql", "mongo"])
def test_a_scan_stores_every_point_in_batches_and_a_rerun_is_all_cached(services_on, backend):
    services, model = services_on(backend)
    scan = run_scan(model, GRID, services=services, batch_size=4, progress=False)

    assert (scan.points, scan.computed, scan.cached, scan.failed, scan.batches) == (15, 12, 0, 3, 4)
    assert [f.index for f in scan.failures] == [12, 13, 14]
    assert scan.failures[0].error_type == "ValueError" and "unstable lattice at k1=4.5" in scan.failures[0].message
    frame = scan.frame
    assert list(frame["inputs.k1"]) == [k for k in GRID["k1"] for _ in GRID["length"]]  # the order given
    assert list(frame["status"]) == ["computed"] * 12 + ["failed"] * 3
    assert frame.loc[0, "outputs.focal_length"] == pytest.approx(1 / (-4.5 * 0.1))
    assert frame["error"].iloc[-1].startswith("ValueError: unstable lattice")
    results = services.results.store()
    assert results.count(model=model) == 12 and results.count(tags=[scan.tag]) == 12  # the scan can be queried
    stored = results.get_many(scan.keys)
    assert set(stored) == set(scan.keys[:12]) and all(r.flow_run_id == scan.flow_run_id for r in stored.values())
    assert stored[scan.keys[0]].inputs == {"k1": -4.5, "length": 0.1, "label": "q"}

    again = run_scan(model, GRID, services=services, progress=False)
    assert (again.cached, again.computed, again.failed) == (12, 0, 3)  # failed points are tried again
    assert list(again.frame["key"][:12]) == scan.keys[:12]
    assert again.frame["outputs.beam"].tolist()[:12] == scan.frame["outputs.beam"].tolist()[:12]
    assert results.count(model=model) == 12

    refreshed = run_scan(model, {"k1": [0.5], "length": [0.1, 0.2]}, services=services, refresh=True, progress=False)
    assert (refreshed.cached, refreshed.computed) == (0, 2) and results.count(model=model) == 12  # replaced in place
    assert results.count(tags=[refreshed.tag]) == 2


def test_every_bad_point_is_reported_before_anything_runs(services_on):
    services, model = services_on()
    points = [{"k1": 1.0}, {"k1": 9.0}, {"k1": 2.0, "lenght": 0.2}, {"k1": 1.0, "length": 5.0}]
    with pytest.raises(InvalidPoints) as caught:
        run_scan(model, points, services=services)
    assert [(b.index, b.variable, b.value) for b in caught.value.bad] == [(1, "k1", 9.0), (2, "lenght", 0.2), (3, "length", 5.0)]
    assert "outside its range [-5, 5] 1/m^2" in str(caught.value)
    assert services.results.store().count() == 0  # nothing ran, nothing stored


def test_an_empty_grid_is_refused(services_on):
    services, model = services_on()
    with pytest.raises(EmptyScan, match="grid variable 'k1' has no values"):
        run_scan(model, {"k1": []}, services=services)


def test_an_unknown_model_or_version_and_a_bad_executor_are_clear_errors(services_on):
    from lume_prefect.registry.errors import RegistryError

    services, model = services_on()
    with pytest.raises(RegistryError, match="no-such-model"):
        run_scan("no-such-model", {"k1": [1.0]}, services=services)
    with pytest.raises(RegistryError, match="9.9"):
        run_scan(model, {"k1": [1.0]}, version="9.9", services=services)
    with pytest.raises(ValueError, match="executor must be one of in-process, processes, dask, slurm, deployment, got 'gpu'"):
        run_scan(model, {"k1": [1.0]}, services=services, executor="gpu")


def test_raise_on_failure_raises_after_storing_the_others(services_on):
    services, model = services_on()
    with pytest.raises(ScanFailed) as caught:
        run_scan(model, {"k1": [1.0, 4.5, 2.0]}, services=services, raise_on_failure=True, progress=False)
    assert [f.index for f in caught.value.failed] == [1] and "point 1" in str(caught.value)
    assert caught.value.result.computed == 2 and services.results.store().count() == 2


def test_an_output_that_cannot_be_stored_fails_only_its_point(services_on):
    services, model = services_on()
    scan = run_scan(model, [{"k1": 1.0}, {"k1": 2.0, "label": "unstorable"}, {"k1": 3.0}], services=services, progress=False)
    assert (scan.computed, scan.failed) == (2, 1)
    assert scan.failures[0].index == 1 and "outputs.beam: cannot store a callable" in scan.failures[0].message
    assert services.results.store().count() == 2


def test_duplicate_points_are_computed_once(services_on):
    services, model = services_on()
    scan = run_scan(model, [{"k1": 1.0}, {"k1": 1}, {"k1": 2.0, "length": 0.1}, {"k1": 2.0}], services=services, progress=False)
    assert scan.keys[0] == scan.keys[1] and scan.keys[2] == scan.keys[3]
    assert (scan.computed, scan.batches) == (4, 1) and services.results.store().count() == 2


def test_a_store_that_is_down_fails_the_scan_before_anything_runs(services_on):
    from pydantic import SecretStr

    from lume_prefect.results import SQLResults
    from tests.components import free_port

    services, model = services_on()
    services.results = SQLResults(url=SecretStr(f"postgresql+psycopg://postgres:secret-pw@127.0.0.1:{free_port()}/nothing"))
    with pytest.raises(ScanStoreError) as caught:
        run_scan(model, {"k1": [1.0, 2.0]}, services=services)
    message = str(caught.value)
    assert "could not be read" in message and "nothing was run" in message and "secret-pw" not in message


def test_a_store_lost_mid_scan_keeps_what_was_computed(services_on):
    import sqlalchemy as sa

    services, model = services_on()
    store = services.results.store()
    database = store.engine.url.database
    points = [{"k1": float(k)} for k in range(-4, 4)] + [{"k1": 0.25, "label": f"cut:{database}"}, {"k1": 0.75}]
    with pytest.raises(ScanStoreError) as caught:
        run_scan(model, points, services=services, batch_size=4, progress=False)
    error = caught.value
    assert error.stored == 8 and "could not be written" in str(error)
    assert [r.inputs["k1"] for r in error.unstored] == [0.25, 0.75]  # computed after the store went away: on the error
    with store.engine.begin() as connection:  # the store comes back
        connection.execute(sa.text("ALTER TABLE lume_results_away RENAME TO lume_results"))
    store.insert_many(error.unstored)
    assert store.count(model=model) == 10


def test_a_scan_in_a_flow_is_one_subflow_with_batch_task_runs_and_artifacts(services_on):
    from prefect import flow
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    from tests.scans.conftest import batch_task_runs

    services, model = services_on()

    @flow
    def campaign():
        return run_scan(model, {"k1": [0.5, 1.0, 1.5, 2.0], "length": 0.3}, services=services, batch_size=2,
                        plot={"y": "focal_length", "x": "k1"}, progress=False)

    scan = campaign()
    # Prefect 3 records task runs from their events, sent in batches: on a busy machine they
    # reach the API a moment after the flow returns, a run's state sometimes after the run itself
    batches = batch_task_runs(scan.flow_run_id, 2)
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[scan.flow_run_id])))
        parent = client.read_flow_run(scan.flow_run_id)
    assert len(batches) == 2 and all(r.state is not None and r.state.is_completed() for r in batches), batches
    assert parent.parent_task_run_id is not None  # a subflow of the campaign
    types = {a.type for a in artifacts}
    assert {"progress", "table", "markdown"} <= types
    progress = next(a for a in artifacts if a.type == "progress")
    assert progress.data == 100.0
    assert any(a.key == f"scan-{scan.scan_id}" for a in artifacts)


def test_a_summary_artifact_the_api_refuses_is_a_warning_and_the_scan_completes(services_on):
    # the summary's request is made by a thread while the run ends: a refusal is the run's
    # warning, not its failure (the points are stored by then)
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.logging.handlers import APILogHandler
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from tests.models.test_in_process_engine import LockingProxy

    services, model = services_on()
    proxy = LockingProxy(refuse=r"/api/artifacts/$")
    try:
        with temporary_settings({PREFECT_API_URL: proxy.url}):
            scan = run_scan(model, {"k1": [0.5, 1.0], "length": 0.3}, services=services, progress=False)
            APILogHandler().flush()  # the run's logs reach the API before the proxy closes
    finally:
        proxy.close()
    assert (scan.computed, scan.failed) == (2, 0) and services.results.store().count(tags=[scan.tag]) == 2
    assert "/api/artifacts/" in proxy.refused
    with get_client(sync_client=True) as client:
        assert client.read_flow_run(scan.flow_run_id).state.is_completed()
        deadline = time.monotonic() + 30
        while True:
            logs = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[scan.flow_run_id])))
            warned = [log.message for log in logs if "summary artifact was not made" in log.message]
            if warned or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    assert warned and "422" in warned[0], [log.message for log in logs]


def test_run_scan_task_and_a_csv_of_points(services_on, tmp_path):
    import pandas
    from prefect import flow

    from lume_prefect.scans import run_scan_task

    services, model = services_on()
    path = tmp_path / "points.csv"
    pandas.DataFrame({"k1": [1.0, 2.0, 3.0], "length": [0.1, 0.2, 0.3]}).to_csv(path, index=False)

    @flow
    def campaign():
        return run_scan_task(model, str(path), services=services, progress=False)

    scan = campaign()
    assert scan.computed == 3 and list(scan.frame["inputs.length"]) == [0.1, 0.2, 0.3]
