"""``run_model``: run a registered model version in-process or remotely, with a results cache."""

from __future__ import annotations

import logging
import typing
from dataclasses import dataclass
from typing import Any, Optional
from uuid import UUID

from prefect import task
from prefect.cache_policies import NO_CACHE

from lume_prefect.models.contract import ModelSpec
from lume_prefect.models.errors import ModelRunFailed, ModelRunTimeout, NotDeployed
from lume_prefect.core.resolve import resolve, using_services
from lume_prefect.models.flows import REFRESH_TAG
from lume_prefect.models.loading import load_model_flow
from lume_prefect.models.lookup import registered_version
from lume_prefect.models.pipeline_spec import PIPELINE_KEY
from lume_prefect.models.subflow import run_flow_in_process
from lume_prefect.services import SERVICES_ENV, LumeServices, RunMode, services_name

@dataclass(frozen=True)
class ModelRun:
    """What ``run_model`` returns: the Result, where it came from, and how it was obtained."""

    model: str
    version: str
    result: Any  # lume_prefect.results.Result; None for a remote run not waited for
    flow_run_id: Optional[UUID]
    cached: bool = False
    mode: str = "in-process"

    @property
    def outputs(self) -> dict[str, Any]:
        return self.result.outputs if self.result is not None else {}


def _logger() -> logging.Logger | logging.LoggerAdapter:
    from prefect.context import FlowRunContext, TaskRunContext
    from prefect.logging import get_run_logger

    if FlowRunContext.get() or TaskRunContext.get():
        return get_run_logger()
    from prefect.logging import get_logger

    return get_logger("lume_prefect.models")  # Prefect's handlers: shown like run logs


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in values.items()}


def check_timeout(timeout: Any, name: str = "timeout") -> Optional[float]:
    """``timeout`` as seconds (None: no limit); ValueError naming it unless a positive, finite number."""
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout < float("inf"):
        raise ValueError(f"{name} must be a positive number of seconds (or None: no limit), got {timeout!r}")
    return float(timeout)


def check_mode(mode: Any) -> None:
    """ValueError unless ``mode`` is None or one of the run modes."""
    modes = typing.get_args(RunMode)
    if mode is not None and mode not in modes:
        raise ValueError(f"mode must be one of {', '.join(map(repr, modes))} (or None: the services' run_mode), got {mode!r}")


def run_model(
    name: str,
    inputs: Optional[dict[str, Any]] = None,
    version: Optional[str] = None,
    *,
    wait: bool = True,
    timeout: Optional[float] = None,
    cancel_on_timeout: bool = True,
    refresh: bool = False,
    services: LumeServices | str | None = None,
    mode: Optional[RunMode] = None,
) -> ModelRun:
    """Run model ``name`` (its live version unless ``version`` is given; ``@ALIAS`` for the
    version an alias points at) on ``inputs``.

    Inputs are validated against the version's declared inputs before anything runs. A
    result already stored for the same (model, version, inputs) is returned without
    recomputing unless ``refresh``. ``mode`` (default: the services' ``run_mode``) picks
    in-process (import and call the flow) or remote (run the version's deployment on a
    worker, wait up to ``timeout`` seconds, cancel it on timeout if ``cancel_on_timeout``).
    A failed or crashed run raises ModelRunFailed with the state and the flow run id.
    """
    from lume_prefect.models.particles import particle_inputs, read_particle_refs
    from lume_prefect.results.codec import result_key

    check_mode(mode)
    timeout = check_timeout(timeout)
    env = resolve(services, "services")
    registry = env.registry
    registered = registered_version(registry, name, version)
    spec = ModelSpec.from_parameters_schema(registered.parameters_schema, name, registered.version)
    origins: dict[int, dict[str, Any]] = {}  # the FileRefs given, of files in the services' block
    if particle_inputs(spec):  # a FileRef of particles is keyed by the particles it holds
        inputs = read_particle_refs(spec, inputs, env.files, origins=origins)
    values = spec.validate_inputs(inputs)
    key = result_key(name, registered.version, values)
    log = _logger()
    if not refresh:
        cached = env.results.get(key, _sync=True)
        if cached is not None:
            log.info("cache hit: %s %s inputs %s already computed by flow run %s", name, registered.version, key[:12], cached.flow_run_id)
            return ModelRun(name, registered.version, cached, cached.flow_run_id, cached=True, mode="cache")
    chosen = mode or env.run_mode
    if PIPELINE_KEY in (registered.parameters_schema or {}):
        return _run_pipeline(env, registered, values, mode)
    if chosen == "in-process":
        return _run_in_process(env, registered, values, timeout, refresh)
    return _run_remote(env, services, registered, values, key, wait, timeout, cancel_on_timeout, refresh, origins)


def _run_in_process(env: LumeServices, registered: Any, values: dict[str, Any], timeout: Optional[float], refresh: bool) -> ModelRun:
    from prefect import tags

    model_flow = load_model_flow(registered.entrypoint, registered.source)
    if timeout is not None:
        model_flow = model_flow.with_options(timeout_seconds=timeout)
    with using_services(env), tags(*([REFRESH_TAG] if refresh else [])):
        state = run_flow_in_process(model_flow, values)
    flow_run_id = state.state_details.flow_run_id
    if not state.is_completed():
        raise ModelRunFailed(registered.model, registered.version, state, flow_run_id)
    return ModelRun(registered.model, registered.version, state.result(), flow_run_id, mode="in-process")


def _run_pipeline(env: LumeServices, registered: Any, values: dict[str, Any], mode: Optional[RunMode]) -> ModelRun:
    from lume_prefect.results.result import Result

    pipeline_flow = load_model_flow(registered.entrypoint, registered.source)  # pipeline.pipeline_flow
    with using_services(env):
        state = run_flow_in_process(pipeline_flow, {"pipeline": registered.parameters_schema[PIPELINE_KEY], "inputs": values, "mode": mode})
    flow_run_id = state.state_details.flow_run_id
    if not state.is_completed():
        raise ModelRunFailed(registered.model, registered.version, state, flow_run_id)
    outcome = state.result()
    result = Result(
        model=registered.model, version=registered.version, inputs=values, outputs=outcome["outputs"],
        tags=["pipeline"], flow_run_id=flow_run_id,
    )
    env.results.insert(result, on_duplicate="replace", _sync=True)
    return ModelRun(registered.model, registered.version, result, flow_run_id, mode="pipeline")


def _run_remote(
    env: LumeServices,
    services: LumeServices | str | None,
    registered: Any,
    values: dict[str, Any],
    key: str,
    wait: bool,
    timeout: Optional[float],
    cancel_on_timeout: bool,
    refresh: bool,
    origins: Optional[dict[int, dict[str, Any]]] = None,
) -> ModelRun:
    from prefect.deployments import run_deployment

    from lume_prefect.models.flows import deployment_parameters

    if not registered.deployment_name:
        raise NotDeployed(registered.model, registered.version)
    job_variables = {}
    if isinstance(services, str) or services is None:
        job_variables = {"env": {SERVICES_ENV: services_name(services if isinstance(services, str) else None)}}
    flow_run = run_deployment(
        name=registered.deployment_name,
        parameters=deployment_parameters(_jsonable(_travelling(env, values, origins))),
        timeout=0,
        job_variables=job_variables,
        tags=["lume-prefect", f"model:{registered.model}", *([REFRESH_TAG] if refresh else [])],
        _sync=True,
    )
    if not wait:
        return ModelRun(registered.model, registered.version, None, flow_run.id, mode="remote")
    state = wait_for_flow_run(flow_run.id, timeout)
    if state is None:
        if cancel_on_timeout:
            cancel_flow_run(flow_run.id)
        raise ModelRunTimeout(registered.model, registered.version, flow_run.id, timeout or 0, cancel_on_timeout)
    if not state.is_completed():
        raise ModelRunFailed(registered.model, registered.version, state, flow_run.id)
    result = env.results.get(key, _sync=True)
    if result is None:
        raise ModelRunFailed(registered.model, registered.version, state, flow_run.id)
    return ModelRun(registered.model, registered.version, result, flow_run.id, mode="remote")


def _travelling(env: LumeServices, values: dict[str, Any], origins: Optional[dict[int, dict[str, Any]]] = None) -> dict[str, Any]:
    """``values`` as a deployment run's JSON parameters carry them: ParticleGroups as the
    FileRefs of their openPMD files in the services' file block (``models.particles``): the
    file a group was read from when it is there (``origins``), else a transport copy."""
    from lume_prefect.files.serializers import particle_group_class

    group = particle_group_class()
    if group is None or not any(isinstance(v, group) for v in values.values()):
        return values
    from lume_prefect.models.particles import particle_refs

    return particle_refs(values, env.files, dict(origins or {}))


def wait_for_flow_run(flow_run_id: UUID, timeout: Optional[float]) -> Any:
    """The final state of a flow run, or None if it is not final after ``timeout`` seconds
    (Prefect's own wait: it follows the run's events instead of polling)."""
    from prefect.exceptions import FlowRunWaitTimeout
    from prefect.flow_runs import wait_for_flow_run as wait_for_final
    from prefect.utilities.asyncutils import run_coro_as_sync

    try:
        return run_coro_as_sync(wait_for_final(flow_run_id, timeout=timeout)).state  # type: ignore[arg-type]
    except FlowRunWaitTimeout:
        return None


def cancel_flow_run(flow_run_id: UUID) -> None:
    """Ask Prefect to cancel a flow run; its worker stops the process."""
    from prefect.client.orchestration import get_client
    from prefect.states import Cancelling

    with get_client(sync_client=True) as client:
        client.set_flow_run_state(flow_run_id, Cancelling(message="cancelled by run_model after its timeout"), force=True)


@task(name="run-model", cache_policy=NO_CACHE, task_run_name="run {name}")
def run_model_task(name: str, inputs: Optional[dict[str, Any]] = None, version: Optional[str] = None, **options: Any) -> Any:
    """``run_model`` as a Prefect task (``options``: refresh, services, mode, timeout); returns the Result."""
    return run_model(name, inputs, version, **options).result
