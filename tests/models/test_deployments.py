"""Model versions as Prefect deployments on a real `prefect server start` with a real process worker:
deploy two versions, run each remotely, promote and revert, reproduce, a pipeline of two deployed models,
a cron schedule, cancel, crash."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid

import pytest

from lume_prefect.models import ModelRunFailed, ModelRunTimeout, SourceConflict
from lume_prefect.models.deploy import deploy_model
from lume_prefect.models.run import run_model, wait_for_flow_run
from tests.components import prefect_worker
from tests.models.conftest import ROOT, temp_services, write_version

pytestmark = pytest.mark.slow
ENTRY = "model.py:toy_beam"


@pytest.fixture(scope="module")
def pool_name():
    return f"lume-test-{uuid.uuid4().hex[:6]}"


@pytest.fixture(scope="module")
def worker(real_api, pool_name, tmp_path_factory):
    """`prefect worker start --type process` polling the pool every second."""
    from lume_prefect.models.deploy import ensure_work_pool

    ensure_work_pool(pool_name)
    with prefect_worker(pool_name, real_api.env, tmp_path_factory.mktemp("worker")) as process:
        yield process


@pytest.fixture(scope="module")
def remote(real_api, worker, pool_name, tmp_path_factory):
    """Saved remote-mode services and deployed toy-beam versions."""
    home = tmp_path_factory.mktemp("remote-services")
    name = f"remote-{uuid.uuid4().hex[:6]}"
    temp_services(home, run_mode="remote", work_pool=pool_name).save(name, _sync=True)
    sources = {
        "1.0.0": write_version(home / "v1.0.0", "1.0.0", seed=7),
        "1.1.0": write_version(home / "v1.1.0", "1.1.0", seed=8),
        "1.2.0": write_version(home / "v1.2.0", "1.2.0", body='__import__("time").sleep(300)'),
        "1.3.0": write_version(home / "v1.3.0", "1.3.0", body='__import__("os")._exit(3)'),
    }
    # the session's Prefect server is shared by test modules, each with its own services: take over
    # the version's deployment should another module's services own it (DeploymentOfOtherServices)
    deployed = {v: deploy_model(ENTRY, str(s), services=name, replace=True) for v, s in sources.items() if v in ("1.0.0", "1.1.0")}
    return {"name": name, "sources": sources, "deployed": deployed, "home": home}


def services(remote):
    from lume_prefect.services import LumeServices

    return LumeServices.load(remote["name"], _sync=True)


def test_deploy_registers_and_creates_named_deployments(remote):
    from prefect.client.orchestration import get_client

    env = services(remote)
    deployed = remote["deployed"]["1.0.0"]
    assert deployed.deployment_name == "toy-beam/1.0.0" and deployed.registered
    version = env.registry.get_version("toy-beam", "1.0.0", _sync=True)
    assert version.deployment_name == "toy-beam/1.0.0" and version.deployment_id == deployed.deployment_id
    assert version.sha256 and version.entrypoint == ENTRY
    with get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name("toy-beam/1.1.0")
    assert deployment.version == "1.1.0" and "model:toy-beam" in deployment.tags
    assert deployment.parameter_openapi_schema["properties"]["drift_m"]["maximum"] == 100.0
    assert_spec_schema(deployment.parameter_openapi_schema)
    assert deployment.job_variables["env"]["LUME_SERVICES"] == remote["name"]


def assert_spec_schema(schema: dict) -> None:
    """toy-beam's parameter schema as its spec declares it (what Prefect derives from the flow's signature):
    the model's inputs only, not the flow's lume_scan_batch parameter (the run form shows this schema)."""
    properties = schema["properties"]
    assert list(properties) == ["sigma_x", "sigma_px", "drift_m", "n_particles", "save_particles"]
    assert "lume_scan_batch" not in json.dumps(schema)
    assert {k: properties["sigma_x"][k] for k in ("type", "default", "minimum", "maximum", "x-units", "description")} == {
        "type": "number", "default": 1e-3, "minimum": 1e-6, "maximum": 0.1, "x-units": "m", "description": "Initial rms size. Units: m. Range: 1e-06 to 0.1 m.",
    }
    assert properties["n_particles"]["type"] == "integer" and properties["n_particles"]["default"] == 10_000
    assert (properties["n_particles"]["minimum"], properties["n_particles"]["maximum"]) == (10, 10_000_000)
    assert properties["save_particles"] == {
        "type": "boolean", "title": "save_particles", "default": False, "description": "Also store the final particles (HDF5).", "position": 4,
    }
    assert not schema.get("required")  # every toy-beam input has a default


async def test_deploy_model_works_from_async_code_and_from_an_async_flow(remote, pool_name, tmp_path):
    """Regression: prefect's sync deploy() got a coroutine from apply() inside a running event loop."""
    from prefect import flow
    from prefect.client.orchestration import get_client

    from_loop = deploy_model(ENTRY, str(write_version(tmp_path / "loop", "3.0.0")), services=remote["name"], tags=["from-async"], paused=True)

    @flow
    async def deploy_toy_beam(source: str) -> str:
        return deploy_model(ENTRY, source, services=remote["name"], cron="0 6 1 1 *", paused=True).deployment_id

    from_flow = await deploy_toy_beam(str(write_version(tmp_path / "flow", "3.1.0")))
    async with get_client() as client:
        first = await client.read_deployment(from_loop.deployment_id)
        second = await client.read_deployment_by_name("toy-beam/3.1.0")
    assert from_loop.deployment_name == "toy-beam/3.0.0" and from_loop.registered
    assert first.name == "3.0.0" and first.version == "3.0.0" and {"from-async", "model:toy-beam"} <= set(first.tags)
    assert first.paused and first.work_pool_name == pool_name and first.job_variables["env"]["LUME_SERVICES"] == remote["name"]
    assert_spec_schema(first.parameter_openapi_schema)
    assert str(second.id) == from_flow and second.paused and second.work_pool_name == pool_name
    [schedule] = second.schedules
    assert schedule.schedule.cron == "0 6 1 1 *"
    assert services(remote).registry.get_version("toy-beam", "3.1.0", _sync=True).deployment_id == from_flow


def test_an_image_for_a_pool_without_images_is_refused_before_registering(remote, tmp_path):
    source = write_version(tmp_path / "imaged", "3.2.0")
    with pytest.raises(ValueError, match="takes no image"):
        deploy_model(ENTRY, str(source), services=remote["name"], image="lume-prefect:3.2.0")
    assert "3.2.0" not in {v.version for v in services(remote).registry.list_versions("toy-beam", _sync=True)}


def test_redeploy_same_source_is_a_noop_and_other_source_is_refused(remote, tmp_path):
    again = deploy_model(ENTRY, str(remote["sources"]["1.0.0"]), services=remote["name"])
    assert again.registered is False and again.deployment_id == remote["deployed"]["1.0.0"].deployment_id
    changed = write_version(tmp_path / "changed", "1.0.0", seed=99)
    with pytest.raises(SourceConflict, match="model 'toy-beam' version '1.0.0' is already registered with source"):
        deploy_model(ENTRY, str(changed), services=remote["name"])


def test_remote_runs_promote_revert_and_prior_version(remote):
    env = services(remote)
    env.registry.promote("toy-beam", "1.0.0", _sync=True)
    v1 = run_model("toy-beam", {"sigma_x": 1e-3}, services=remote["name"], timeout=120)
    assert v1.mode == "remote" and v1.version == "1.0.0" and v1.result.flow_run_id == v1.flow_run_id
    env.registry.promote("toy-beam", "1.1.0", _sync=True)
    v2 = run_model("toy-beam", {"sigma_x": 1e-3}, services=remote["name"], timeout=120)
    assert v2.version == "1.1.0" and v2.outputs != v1.outputs
    env.registry.revert("toy-beam", _sync=True)
    back = run_model("toy-beam", {"sigma_x": 1e-3}, services=remote["name"], timeout=120)
    assert back.version == "1.0.0" and back.cached and back.outputs == v1.outputs
    rerun = run_model("toy-beam", {"sigma_x": 1e-3}, version="1.1.0", refresh=True, services=remote["name"], timeout=120)
    assert rerun.mode == "remote" and rerun.outputs == v2.outputs and rerun.flow_run_id != v2.flow_run_id


def test_remote_reproduce_and_a_pipeline_of_two_deployed_models(remote):
    from lume_prefect.models.pipeline import Pipeline, register_pipeline
    from lume_prefect.models.reproduce import reproduce
    from tests.models.test_lifecycle_in_process import PIPELINE_YAML

    env = services(remote)
    env.registry.promote("toy-beam", "1.0.0", _sync=True)
    stored = run_model("toy-beam", {"sigma_x": 3e-3, "drift_m": 1.0}, services=remote["name"], timeout=120)
    check = reproduce(stored.result.key, services=remote["name"])
    assert check.matches and check.rerun.mode == "remote" and check.rerun.flow_run_id != stored.flow_run_id

    chain = Pipeline.from_yaml(PIPELINE_YAML.replace("name: beam-chain", "name: remote-chain"))
    assert register_pipeline(chain, env) is True
    run = run_model("remote-chain", {"sigma_x": 2e-3}, version="1.0.0", services=remote["name"], timeout=240)
    first = run_model("toy-beam", {"sigma_x": 2e-3, "drift_m": 1.0}, services=remote["name"])
    second = run_model("toy-beam", {"sigma_x": first.outputs["rms_x"], "drift_m": 3.0}, version="1.1.0", services=remote["name"])
    assert first.cached and second.cached  # both steps ran as deployments and stored their results
    assert first.result.flow_run_id != second.result.flow_run_id
    assert run.outputs == {"final_rms_x": second.outputs["rms_x"]}
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        step_run = client.read_flow_run(second.result.flow_run_id)
    assert step_run.deployment_id is not None  # a deployment's run on the worker, not an in-process subflow


def test_a_cron_schedule_creates_scheduled_runs(remote, tmp_path):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    source = write_version(tmp_path / "scheduled", "2.0.0")
    deployed = deploy_model(ENTRY, str(source), services=remote["name"], cron="0 6 1 1 *")
    deadline = time.monotonic() + 60
    runs = []
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline and not runs:
            runs = client.read_flow_runs(deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployed.deployment_id])))
            time.sleep(1)
    assert runs, "the scheduler created no run for the cron schedule within 60 s"
    assert all(r.state.is_scheduled() for r in runs)
    assert {(r.expected_start_time.month, r.expected_start_time.day, r.expected_start_time.hour) for r in runs} == {(1, 1, 6)}


def test_timeout_cancels_a_long_run(remote):
    from prefect.client.orchestration import get_client

    # the session's Prefect server is shared by test modules, each with its own services: take over
    # the version's deployment should another module's services own it (DeploymentOfOtherServices)
    deploy_model(ENTRY, str(remote["sources"]["1.2.0"]), services=remote["name"], replace=True)
    with pytest.raises(ModelRunTimeout) as info:
        run_model("toy-beam", {}, version="1.2.0", services=remote["name"], timeout=8)
    assert info.value.cancelled
    final = wait_for_flow_run(info.value.flow_run_id, timeout=60)
    assert final is not None and final.is_cancelled()
    with get_client(sync_client=True) as client:
        assert client.read_flow_run(info.value.flow_run_id).state.is_cancelled()


@pytest.mark.parametrize("cancel_requested", [True, False], ids=["cancelled", "not-cancelled"])
def test_a_bare_sigterm_ends_a_cancelled_run_cancelled_and_any_other_crashed(real_api, remote, cancel_requested):
    """Prefect's runner stops a run with a bare SIGTERM (no cancel intent) when the run's process
    has not acknowledged the cancel within 1 s (not yet connected; a loaded machine): its engine
    then forces Crashed. Here the process has no control channel at all, so it is always so."""
    tag = f"bare-sigterm-{uuid.uuid4().hex[:6]}"
    code = f"import prefect\nfrom model import toy_beam\nwith prefect.tags({tag!r}):\n    toy_beam()"
    assert_sigterm_ends_it(real_api, code, remote["sources"]["1.2.0"], tag, "toy-beam", cancel_requested)


@pytest.mark.parametrize("cancel_requested", [True, False], ids=["cancelled", "not-cancelled"])
def test_a_bare_sigterm_ends_a_cancelled_scan_cancelled_and_any_other_crashed(real_api, remote, cancel_requested):
    """The same for a scan's flow run (lume-scan), here of a model that sleeps in its first point."""
    from lume_prefect.models.deploy import register_model_version

    register_model_version(ENTRY, str(remote["sources"]["1.2.0"]), services=remote["name"])
    tag = f"bare-sigterm-scan-{uuid.uuid4().hex[:6]}"
    code = (f"import prefect\nfrom lume_prefect import run_scan\nwith prefect.tags({tag!r}):\n"
            f"    run_scan('toy-beam', {{'sigma_x': [1e-3]}}, version='1.2.0', services={remote['name']!r}, progress=False)")
    assert_sigterm_ends_it(real_api, code, remote["home"], tag, "lume-scan", cancel_requested)


# a cancel requested, and the flow's cancelled_not_crashed hook: without it a cancelled run ends Crashed
CANCELS = pytest.mark.parametrize(("cancel_requested", "hooked"), [(True, True), (False, True), (True, False)],
                                  ids=["cancelled", "not-cancelled", "cancelled-without-the-hook"])


@CANCELS
def test_a_bare_sigterm_ends_a_cancelled_comparison_cancelled_and_any_other_crashed(real_api, remote, cancel_requested, hooked):
    """The same for a comparison's flow run (lume-compare), whose first scan sleeps in its point."""
    from lume_prefect.models.deploy import register_model_version

    register_model_version(ENTRY, str(remote["sources"]["1.2.0"]), services=remote["name"])
    tag = f"bare-sigterm-compare-{uuid.uuid4().hex[:6]}"
    unhook = "" if hooked else "from lume_prefect.scans import compare\ncompare._compare_flow().on_crashed_hooks.clear()\n"
    code = (f"import prefect\nfrom lume_prefect import compare_models\n{unhook}with prefect.tags({tag!r}):\n"
            f"    compare_models('toy-beam@1.2.0', 'toy-beam@1.0.0', {{'sigma_x': [1e-3]}}, services={remote['name']!r}, progress=False)")
    assert_sigterm_ends_it(real_api, code, remote["home"], tag, "lume-compare", cancel_requested, hooked)


@CANCELS
def test_a_bare_sigterm_ends_a_cancelled_pipeline_cancelled_and_any_other_crashed(real_api, remote, cancel_requested, hooked):
    """The same for a pipeline's flow run (lume-pipeline), whose first step sleeps."""
    from lume_prefect.models.deploy import register_model_version
    from lume_prefect.models.pipeline import Pipeline
    from tests.models.test_lifecycle_in_process import PIPELINE_YAML

    register_model_version(ENTRY, str(remote["sources"]["1.2.0"]), services=remote["name"])
    chain = Pipeline.from_yaml(PIPELINE_YAML.replace("model: toy-beam\n    inputs: {sigma_x: \"=inputs.sigma_x\"",
                                                     "model: toy-beam\n    version: 1.2.0\n    inputs: {sigma_x: \"=inputs.sigma_x\""))
    assert chain.steps[0].version == "1.2.0"
    tag = f"bare-sigterm-pipeline-{uuid.uuid4().hex[:6]}"
    unhook = "" if hooked else "pipeline_flow.on_crashed_hooks.clear()\n"
    code = (f"import prefect\nfrom lume_prefect.models.pipeline import pipeline_flow\n{unhook}with prefect.tags({tag!r}):\n"
            f"    pipeline_flow({chain.model_dump(mode='json')!r}, {{'sigma_x': 2e-3}}, services={remote['name']!r}, mode='in-process')")
    assert_sigterm_ends_it(real_api, code, remote["home"], tag, "lume-pipeline", cancel_requested, hooked)


def assert_sigterm_ends_it(real_api, code: str, cwd, tag: str, flow_name: str, cancel_requested: bool, hooked: bool = True) -> None:
    """Run ``code`` in its own process until its flow run of ``flow_name`` (tagged ``tag``) runs,
    request its cancel (or not), send the process a bare SIGTERM: Cancelled if the cancel was
    requested (and ``code`` left the flow its cancelled_not_crashed hook), Crashed by the
    termination signal otherwise."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName, FlowRunFilter, FlowRunFilterTags

    from lume_prefect.models.run import cancel_flow_run

    process = subprocess.Popen([sys.executable, "-c", code], cwd=cwd, env=real_api.env)
    try:
        deadline, run = time.monotonic() + 180, None
        with get_client(sync_client=True) as client:
            while time.monotonic() < deadline and not (run and run.state.is_running()):
                time.sleep(0.5)
                found = client.read_flow_runs(flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[tag])),
                                              flow_filter=FlowFilter(name=FlowFilterName(any_=[flow_name])))
                run = found[0] if found else None
        assert run is not None and run.state.is_running(), f"the {flow_name} run did not start within 180 s"
        if flow_name in ("lume-compare", "lume-pipeline"):  # the signal comes while a subflow run runs
            with get_client(sync_client=True) as client:
                while time.monotonic() < deadline and not any(
                    r.id != run.id and r.state.is_running()
                    for r in client.read_flow_runs(flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[tag])))
                ):
                    time.sleep(0.5)
        time.sleep(1)  # into the model's sleep
        if cancel_requested:
            cancel_flow_run(run.id)
        # Prefect's SIGTERM handler raises TerminationSignal in whatever Python code runs: in a
        # finalizer (the garbage collector closing an asyncio transport) Python prints "Exception
        # ignored" and the run goes on, as if no signal came (a runner then kills the process
        # after its grace period). Send it again then: what is tested is a SIGTERM the run gets.
        for _ in range(3):
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(20)
                break
            except subprocess.TimeoutExpired:
                pass
        process.wait(60)
    finally:
        process.kill()
    final = wait_for_flow_run(run.id, timeout=60)
    if cancel_requested and hooked:
        assert final is not None and final.is_cancelled(), final
        assert "cancelled by run_model after its timeout" in final.message
        # its subflow runs stopped by the same signal (a comparison's scan, a pipeline's step)
        # are the cancel's too
        with get_client(sync_client=True) as client:
            children = [r for r in client.read_flow_runs(flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[tag])))
                        if r.id != run.id and r.parent_task_run_id is not None]
        stopped = [r for r in children if not r.state.is_completed()]
        assert all(r.state.is_cancelled() and "was cancelled" in r.state.message for r in stopped), [(r.name, r.state) for r in stopped]
        if flow_name in ("lume-compare", "lume-pipeline"):
            assert stopped, [(r.name, r.state) for r in children]  # the signal came during a subflow run
    else:
        assert final is not None and final.is_crashed() and "termination signal" in final.message, final


def test_a_crash_is_reported_with_its_state(remote):
    # the session's Prefect server is shared by test modules, each with its own services: take over
    # the version's deployment should another module's services own it (DeploymentOfOtherServices)
    deploy_model(ENTRY, str(remote["sources"]["1.3.0"]), services=remote["name"], replace=True)
    with pytest.raises(ModelRunFailed) as info:
        run_model("toy-beam", {}, version="1.3.0", services=remote["name"], timeout=120)
    assert info.value.state.is_crashed() or info.value.state.is_failed()
    assert info.value.flow_run_id is not None and str(info.value.flow_run_id) in str(info.value)
    assert os.environ.get("LUME_SERVICES") is None  # nothing leaked into this process


def test_redeploying_without_a_schedule_keeps_it_and_a_new_one_replaces_it(remote, tmp_path):
    from prefect.client.orchestration import get_client

    source = str(write_version(tmp_path / "hourly", "2.1.0"))

    def schedules() -> list[tuple[float | None, str | None, bool]]:
        with get_client(sync_client=True) as client:
            found = client.read_deployment_by_name("toy-beam/2.1.0").schedules
        return [(getattr(s.schedule, "interval", None) and s.schedule.interval.total_seconds(), getattr(s.schedule, "cron", None), s.active) for s in found]

    deploy_model(ENTRY, source, services=remote["name"], interval=3600, paused=True)
    assert schedules() == [(3600.0, None, True)]
    deploy_model(ENTRY, source, services=remote["name"], paused=True)  # e.g. to change tags: the schedule stays
    assert schedules() == [(3600.0, None, True)]
    deploy_model(ENTRY, source, services=remote["name"], cron="0 6 1 1 *", paused=True)
    assert schedules() == [(None, "0 6 1 1 *", True)]


def test_a_pool_whose_workers_cannot_see_the_source_refuses_a_deploy_without_runs_from(real_api, remote, tmp_path):
    """What deployments/compose.yaml's workers mark on their pools (runs start in containers)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate

    from lume_prefect.models import RunsFromRequired

    template = json.loads((ROOT / "deployments/process.json").read_text())
    template["variables"]["properties"]["lume_runs_from_required"] = {"type": "boolean", "default": True}
    pool = f"contained-{uuid.uuid4().hex[:6]}"
    with get_client(sync_client=True) as client:
        client.create_work_pool(WorkPoolCreate(name=pool, type="process", base_job_template=template))
    source = write_version(tmp_path / "contained", "2.3.0")
    with pytest.raises(RunsFromRequired, match=rf"work pool '{pool}' runs flows where '{source}' does not exist .*give runs_from \(--runs-from\)"):
        deploy_model(ENTRY, str(source), services=remote["name"], work_pool=pool)
    assert "2.3.0" not in {v.version for v in services(remote).registry.list_versions("toy-beam", _sync=True)}  # nothing half-done
    deployed = deploy_model(ENTRY, str(source), services=remote["name"], work_pool=pool, runs_from="/opt/lume-prefect/flows/toy_beam")
    assert deployed.registered


def flow_run_logs(flow_run_id, until: str) -> str:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    deadline = time.monotonic() + 30  # logs are sent in batches
    with get_client(sync_client=True) as client:
        while True:
            text = "\n".join(log.message for log in client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id]))))
            if until in text or time.monotonic() > deadline:
                return text
            time.sleep(1)


def test_a_run_that_cannot_start_where_its_code_should_be_says_why_in_its_own_logs(remote, tmp_path):
    source = write_version(tmp_path / "elsewhere", "2.4.0")
    deploy_model(ENTRY, str(source), services=remote["name"], runs_from="/nonexistent/lume/toy_beam")
    with pytest.raises(ModelRunFailed) as info:
        run_model("toy-beam", {}, version="2.4.0", services=remote["name"], timeout=120)
    assert info.value.state.is_crashed()
    logs = flow_run_logs(info.value.flow_run_id, "cannot start")  # the flow run's page, not only the worker's output
    assert "cannot start in '/nonexistent/lume/toy_beam' on " in logs and "No such file or directory" in logs
    assert "lume-prefect deploy --runs-from DIR" in logs


def test_a_rerun_from_the_ui_keeps_the_stored_result_and_a_refresh_replaces_it(remote):
    from prefect.client.orchestration import get_client

    env = services(remote)
    inputs = {"sigma_x": 4.5e-3}
    first = run_model("toy-beam", inputs, version="1.0.0", services=remote["name"], timeout=120)
    stored = env.results.get(first.result.key, _sync=True)
    with get_client(sync_client=True) as client:  # what the UI's Run button (or a schedule) does
        deployment = client.read_deployment_by_name("toy-beam/1.0.0")
        again = client.create_flow_run_from_deployment(deployment.id, parameters=inputs)
    final = wait_for_flow_run(again.id, timeout=120)
    assert final is not None and final.is_completed()
    kept = env.results.get(first.result.key, _sync=True)
    assert (kept.created, kept.flow_run_id) == (stored.created, first.flow_run_id)  # the first store wins
    assert f"already stored by flow run {first.flow_run_id}" in flow_run_logs(again.id, "already stored")
    refreshed = run_model("toy-beam", inputs, version="1.0.0", refresh=True, services=remote["name"], timeout=120)
    replaced = env.results.get(first.result.key, _sync=True)
    assert replaced.flow_run_id == refreshed.flow_run_id != first.flow_run_id and replaced.created > stored.created


def test_two_environments_on_one_server_never_overwrite_each_others_deployment(real_api, remote, pool_name, tmp_path):
    """prod (the module's services) and staging (its own registry and results store) deploy the
    same version on one Prefect server: staging's deploy is refused, naming both, until it
    gives its own deployment name, which its registry records and its runs and scans use."""
    import random

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    from lume_prefect.models import DeploymentOfOtherServices
    from lume_prefect.scans import run_scan
    from lume_prefect.services import LumeServices

    prod, staging = remote["name"], f"staging-{uuid.uuid4().hex[:6]}"
    temp_services(tmp_path / "staging", run_mode="remote", work_pool=pool_name).save(staging, _sync=True)
    version = f"4.{random.randrange(10**6)}.0"  # a version no other test deploys
    source = str(write_version(tmp_path / "model", version))

    def deployment(name: str):
        with get_client(sync_client=True) as client:
            return client.read_deployment_by_name(name)

    ours = deploy_model(ENTRY, source, services=prod)
    assert ours.deployment_name == f"toy-beam/{version}"  # the default single-environment name
    with pytest.raises(DeploymentOfOtherServices) as refused:
        deploy_model(ENTRY, source, services=staging)
    assert f"deployment 'toy-beam/{version}' belongs to services {prod!r}" in str(refused.value)
    assert f"refusing to point it at services {staging!r}" in str(refused.value)
    assert f"deployment_name='{version}-{staging}'" in str(refused.value) and "replace=True" in str(refused.value)
    assert deployment(f"toy-beam/{version}").job_variables["env"]["LUME_SERVICES"] == prod  # untouched
    assert LumeServices.load(staging, _sync=True).registry.list_models(_sync=True) == []  # nothing half-done

    cli = subprocess.run([sys.executable, "-m", "lume_prefect.cli", "deploy", ENTRY, "--source", source, "--services", staging],
                         capture_output=True, text=True, env={**real_api.env, "PREFECT_LOGGING_LEVEL": "ERROR"}, timeout=180)
    assert cli.returncode == 1 and "Traceback" not in cli.stderr, cli.stderr
    assert f"belongs to services {prod!r}" in cli.stderr and f"--deployment-name '{version}-{staging}'" in cli.stderr
    assert "--replace" in cli.stderr

    theirs = deploy_model(ENTRY, source, services=staging, deployment_name=f"{version}-staging")
    assert theirs.deployment_name == f"toy-beam/{version}-staging" and theirs.deployment_id != ours.deployment_id
    assert deployment(theirs.deployment_name).job_variables["env"]["LUME_SERVICES"] == staging
    assert deployment(f"toy-beam/{version}").job_variables["env"]["LUME_SERVICES"] == prod
    again = deploy_model(ENTRY, source, services=staging)  # a re-deploy keeps the name its registry recorded
    assert (again.deployment_name, again.deployment_id) == (theirs.deployment_name, theirs.deployment_id)
    for name, deployed in ((prod, ours), (staging, theirs)):
        recorded = LumeServices.load(name, _sync=True).registry.get_version("toy-beam", version, _sync=True)
        assert (recorded.deployment_name, recorded.deployment_id) == (deployed.deployment_name, deployed.deployment_id)

    stores = {name: LumeServices.load(name, _sync=True).results for name in (prod, staging)}
    for name, deployed, other in ((prod, ours, staging), (staging, theirs, prod)):
        run = run_model("toy-beam", {"sigma_x": 2e-3}, version=version, services=name, refresh=True, timeout=120)
        with get_client(sync_client=True) as client:
            assert str(client.read_flow_run(run.flow_run_id).deployment_id) == deployed.deployment_id, name
        assert stores[name].get(run.result.key, _sync=True).flow_run_id == run.flow_run_id
        stored_elsewhere = stores[other].get(run.result.key, _sync=True)
        assert stored_elsewhere is None or stored_elsewhere.flow_run_id != run.flow_run_id

    scan = run_scan("toy-beam", {"sigma_x": [3e-3]}, version=version, services=staging, executor="deployment", timeout=120)
    assert scan.computed == 1 and not scan.failures
    with get_client(sync_client=True) as client:
        batch_runs = client.read_flow_runs(deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[theirs.deployment_id])))
    assert any("lume-scan" in r.tags for r in batch_runs)  # the scan ran staging's own deployment

    taken = deploy_model(ENTRY, source, services=staging, deployment_name=version, replace=True)  # a deliberate take-over
    assert taken.deployment_id == ours.deployment_id
    assert deployment(f"toy-beam/{version}").job_variables["env"]["LUME_SERVICES"] == staging
