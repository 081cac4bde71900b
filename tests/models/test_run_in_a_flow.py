"""``run_model`` in-process inside a flow run: the model run is a recorded subflow of the caller's
run (tracking task run, states, parameters), its result is stored under the run's id, and the
fast path (``models/subflow.py``) keeps promote/revert, the cache, failures and timeouts."""

from __future__ import annotations

import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    FlowFilter, FlowFilterName, FlowRunFilter, FlowRunFilterParentTaskRunId, TaskRunFilter, TaskRunFilterFlowRunId,
)

from lume_prefect.models import ModelRunFailed
from lume_prefect.models.deploy import register_model_version
from lume_prefect.models.run import run_model
from lume_prefect.registry import ModelRegistry
from tests.models.conftest import write_version

pytestmark = pytest.mark.prefect
ENTRY = "model.py:toy_beam"


@pytest.fixture
def services(make_services, toy_versions):
    services = make_services()
    for source in toy_versions.values():
        register_model_version(ENTRY, str(source), services=services)
    services.registry.promote("toy-beam", "1.0.0", _sync=True)
    return services


def runs_of(flow_name: str) -> list:
    with get_client(sync_client=True) as client:
        return client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=[flow_name])))


def test_a_run_in_a_flow_is_a_recorded_subflow_and_its_result_is_stored_under_it(services):
    @flow
    def campaign():
        from prefect.runtime import flow_run

        return flow_run.id, run_model("toy-beam", {"sigma_x": 2e-3, "drift_m": 3.0}, services=services)

    parent_id, ran = campaign()
    assert not ran.cached and ran.mode == "in-process" and ran.version == "1.0.0"
    with get_client(sync_client=True) as client:
        child = client.read_flow_run(ran.flow_run_id)
        tracking = client.read_task_run(child.parent_task_run_id)
        history = client.read_flow_run_states(ran.flow_run_id)
        under_tracking = client.read_flow_runs(flow_run_filter=FlowRunFilter(parent_task_run_id=FlowRunFilterParentTaskRunId(any_=[tracking.id])))
        flow_name = client.read_flow(child.flow_id).name
    assert str(tracking.flow_run_id) == str(parent_id)  # the tracking task run is in the caller's run
    assert [r.id for r in under_tracking] == [child.id]  # one subflow run per tracking task run
    assert flow_name == "toy-beam" and child.flow_version == "1.0.0"
    assert child.state.is_completed() and child.start_time is not None and child.end_time is not None
    assert [s.type.value for s in history] == ["RUNNING", "COMPLETED"]
    assert child.parameters["sigma_x"] == 2e-3 and child.parameters["drift_m"] == 3.0
    assert tracking.state.is_completed()  # the server mirrors the subflow's state on its tracking task run
    stored = services.results.get(ran.result.key, _sync=True)
    assert stored.flow_run_id == ran.flow_run_id and stored.outputs == ran.outputs


def test_each_call_is_its_own_subflow_and_a_cache_hit_makes_none(services):
    @flow
    def campaign():
        first = run_model("toy-beam", {"sigma_x": 1e-3}, services=services)
        second = run_model("toy-beam", {"sigma_x": 1.5e-3}, services=services)
        again = run_model("toy-beam", {"sigma_x": 1e-3}, services=services)
        return first, second, again

    before = len(runs_of("toy-beam"))
    first, second, again = campaign()
    assert first.flow_run_id != second.flow_run_id and not second.cached
    assert again.cached and again.flow_run_id == first.flow_run_id and again.outputs == first.outputs
    assert len(runs_of("toy-beam")) == before + 2
    with get_client(sync_client=True) as client:
        parents = {client.read_flow_run(run.flow_run_id).parent_task_run_id for run in (first, second)}
    assert len(parents) == 2


def test_promote_and_revert_by_another_client_take_effect_on_the_next_call(services):
    elsewhere = ModelRegistry(url=services.registry.url)  # another client of the same registry database

    @flow
    def campaign():
        seen = [run_model("toy-beam", {"drift_m": 1.0}, services=services).version]
        elsewhere.promote("toy-beam", "1.1.0", _sync=True)
        seen.append(run_model("toy-beam", {"drift_m": 2.0}, services=services).version)
        elsewhere.revert("toy-beam", _sync=True)
        reverted = run_model("toy-beam", {"drift_m": 3.0}, services=services)
        seen.append(reverted.version)
        return seen, reverted

    seen, reverted = campaign()
    assert seen == ["1.0.0", "1.1.0", "1.0.0"]
    assert not reverted.cached and services.results.get(reverted.result.key, _sync=True).version == "1.0.0"


def test_a_failing_model_in_a_flow_is_a_failed_subflow_and_stores_nothing(services):
    @flow
    def campaign():
        with pytest.raises(ModelRunFailed) as info:
            run_model("toy-beam", {}, version="1.2.0", services=services)
        return info.value.state, info.value.flow_run_id, str(info.value)  # an exception returned would fail the flow

    state, flow_run_id, message = campaign()
    assert state.is_failed() and "beam lost at the first quadrupole" in message
    with get_client(sync_client=True) as client:
        recorded = client.read_flow_run(flow_run_id)
        tracking = client.read_task_run(recorded.parent_task_run_id)
    assert recorded.state.is_failed() and tracking.state.is_failed()
    assert services.results.count(_sync=True) == 0


def test_a_timeout_in_process_fails_the_subflow(services, tmp_path):
    slow = write_version(tmp_path / "v1.3.0", "1.3.0", body="import time; time.sleep(30)")
    register_model_version(ENTRY, str(slow), services=services)

    @flow
    def campaign():
        with pytest.raises(ModelRunFailed) as info:
            run_model("toy-beam", {}, version="1.3.0", timeout=1, services=services)
        return info.value.state, info.value.flow_run_id

    state, flow_run_id = campaign()
    assert state.is_failed() and state.name == "TimedOut"
    with get_client(sync_client=True) as client:
        assert client.read_flow_run(flow_run_id).state.name == "TimedOut"
    assert services.results.count(_sync=True) == 0


def test_a_flow_the_api_no_longer_knows_is_created_again(services):
    @flow
    def campaign(sigma_x: float):
        return run_model("toy-beam", {"sigma_x": sigma_x}, services=services)

    first = campaign(1e-3)
    with get_client(sync_client=True) as client:
        client.delete_flow(client.read_flow_run(first.flow_run_id).flow_id)  # the API forgets toy-beam and its runs
    second = campaign(2e-3)
    with get_client(sync_client=True) as client:
        child = client.read_flow_run(second.flow_run_id)
        assert client.read_flow(child.flow_id).name == "toy-beam" and child.state.is_completed()
    assert child.parent_task_run_id is not None


def test_a_run_from_a_task_is_a_subflow_whose_tracking_task_run_follows_that_task(services):
    from lume_prefect.models.run import run_model_task

    @flow
    def campaign():
        future = run_model_task.submit("toy-beam", {"sigma_x": 4e-3}, services=services)
        return future.task_run_id, future.result()

    caller_id, result = campaign()
    with get_client(sync_client=True) as client:
        child = client.read_flow_run(result.flow_run_id)
        tracking = client.read_task_run(child.parent_task_run_id)
    assert [str(parent.id) for parent in tracking.task_inputs["__parents__"]] == [str(caller_id)]
    assert child.state.is_completed() and services.results.get(result.key, _sync=True).flow_run_id == result.flow_run_id


def test_a_pipeline_in_a_flow_is_a_subflow_and_its_steps_are_its_subflows(services):
    from lume_prefect.models.pipeline import Pipeline, register_pipeline
    from tests.models.test_lifecycle_in_process import PIPELINE_YAML

    assert register_pipeline(Pipeline.from_yaml(PIPELINE_YAML), services) is True
    services.registry.promote("beam-chain", "1.0.0", _sync=True)

    @flow
    def campaign():
        from prefect.runtime import flow_run

        return flow_run.id, run_model("beam-chain", {"sigma_x": 2.5e-3}, services=services)

    parent_id, ran = campaign()
    assert ran.mode == "pipeline" and set(ran.outputs) == {"final_rms_x"}
    with get_client(sync_client=True) as client:
        chain = client.read_flow_run(ran.flow_run_id)
        in_chain = client.read_task_runs(task_run_filter=TaskRunFilter(flow_run_id=TaskRunFilterFlowRunId(any_=[chain.id])))
        steps = client.read_flow_runs(flow_run_filter=FlowRunFilter(parent_task_run_id=FlowRunFilterParentTaskRunId(any_=[t.id for t in in_chain])))
        chain_parent = client.read_task_run(chain.parent_task_run_id)
    assert str(chain_parent.flow_run_id) == str(parent_id) and chain.state.is_completed()
    assert len(steps) == 2 and all(step.state.is_completed() for step in steps)  # first and second, toy-beam runs
