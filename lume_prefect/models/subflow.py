"""An in-process model run: Prefect's flow engine, without the API calls that buy it nothing.

Prefect's own flow engine runs the model flow (its context, logs, timeout, failure and crash
states, hooks are Prefect's); only the making of the flow run differs. For a subflow, Prefect
3.9 makes the parent's tracking task run on a fresh async client in its event-loop thread (a
new SSL context, connection and CSRF token each time, ~25 ms), looks for an earlier subflow
run of that task run (to reattach to after a parent's retry), upserts the flow, creates the
run Pending, proposes Running and reads the run back: eight requests with the final state.
Here:

- the tracking task run is made with the run's own client, and every call gets its own (a
  random dynamic key, as Prefect gives subflows called from a task), so there is no earlier
  subflow run to look for: ``run_model`` asks the results cache before it runs anything;
- the flow's id is asked once per API and flow name (and again if the API no longer knows it);
- the run is created Running: it starts at once in this process, so Pending is a state nobody
  could act on, and the engine's own Running proposal is then already answered.

Three requests remain (tracking task run, flow run, final state) and the engine's re-read of
the run. What is given up is listed in the README (One run is cheap too).
"""

from __future__ import annotations

import weakref
from typing import Any
from uuid import UUID, uuid4

from prefect import Task
from prefect.client.schemas.actions import FlowCreate, FlowRunCreate
from prefect.client.schemas.objects import Flow, FlowRun, FlowRunPolicy, TaskRunResult
from prefect.context import FlowRunContext, TagsContext, TaskRunContext
from prefect.exceptions import PrefectHTTPStatusError
from prefect.flow_engine import FlowRunEngine
from prefect.states import Pending, Running, State, to_state_create
from prefect.utilities.callables import get_call_parameters
from prefect.utilities.engine import collect_task_run_inputs_sync

_tracking_tasks: weakref.WeakKeyDictionary[Any, Task[..., Any]] = weakref.WeakKeyDictionary()
_flow_ids: dict[tuple[str, str], UUID] = {}  # (API URL, flow name) -> the flow's id there


def _tracking_task(flow: Any) -> Task[..., Any]:
    """The task that stands for ``flow`` in its parent's graph, made once per flow
    (a Task reads its function's source to make its key)."""
    task = _tracking_tasks.get(flow)
    if task is None:
        task = _tracking_tasks[flow] = Task(name=flow.name, fn=flow.fn, version=flow.version)
    return task


def flow_id(client: Any, name: str, *, refresh: bool = False) -> UUID:
    """The id of flow ``name`` in the API of ``client``, upserted once per API and name."""
    key = (str(client.api_url), name)
    if refresh or key not in _flow_ids:
        response = client.request("POST", "/flows/", json=FlowCreate(name=name).model_dump(mode="json"))
        _flow_ids[key] = Flow.model_validate(response.json()).id
    return _flow_ids[key]


def create_running_flow_run(client: Any, flow: Any, parameters: dict[str, Any], parent_task_run_id: UUID | None, tags: Any) -> FlowRun:
    """A flow run of ``flow`` created Running (``SyncPrefectClient.create_flow_run`` without its
    flow upsert); a flow id the API no longer knows (409) is asked again once."""
    for refresh in (False, True):
        create = FlowRunCreate(
            flow_id=flow_id(client, flow.name, refresh=refresh), flow_version=flow.version,
            parameters=flow.serialize_parameters(parameters), context={}, tags=list(tags or []),
            parent_task_run_id=parent_task_run_id, state=to_state_create(Running()),
            empirical_policy=FlowRunPolicy(retries=flow.retries, retry_delay=int(flow.retry_delay_seconds or 0)),
        )
        try:
            response = client.request("POST", "/flow_runs/", json=create.model_dump(mode="json", exclude_unset=True))
        except PrefectHTTPStatusError as error:
            if refresh or error.response.status_code != 409:
                raise
            continue
        run = FlowRun.model_validate(response.json())
        run.parameters = parameters  # the Python values, as Prefect's client keeps them
        return run
    raise AssertionError("unreachable")


class _ModelRunEngine(FlowRunEngine[Any, Any]):
    _created_running: bool = False

    def create_flow_run(self, client: Any) -> Any:
        parent = FlowRunContext.get()
        if parent is not None and parent.detached:
            return super().create_flow_run(client)
        parameters = self.parameters or {}
        tags = TagsContext.get().current_tags
        tracking_id = None
        if parent is not None and parent.flow_run is not None:
            task = _tracking_task(self.flow)
            task_inputs: dict[str, Any] = {name: collect_task_run_inputs_sync(value) for name, value in parameters.items()}
            caller = TaskRunContext.get()
            if caller is not None and caller.task_run.flow_run_id == parent.flow_run.id:
                task_inputs["__parents__"] = [TaskRunResult(id=caller.task_run.id)]
            dynamic_key = str(uuid4())
            tracking_id = client.create_task_run(
                task=task, flow_run_id=parent.flow_run.id, dynamic_key=dynamic_key, name=f"{task.name}-{dynamic_key[:8]}",
                state=Pending(), task_inputs=task_inputs, extra_tags=tags,
            ).id
        run = create_running_flow_run(client, self.flow, parameters, tracking_id, tags)
        self._created_running = True
        return run

    def set_state(self, state: State, force: bool = False) -> State:
        if self._created_running and state.is_running() and not force:
            # the engine's first proposal: the API made the run Running when it created it
            self._created_running = False
            current = self.flow_run.state
            self.call_hooks(current)
            return current
        self._created_running = False
        return super().set_state(state, force)


def run_model_subflow(flow: Any, parameters: dict[str, Any]) -> State:
    """Run the sync model (or pipeline) ``flow`` on ``parameters`` with Prefect's flow engine (a subflow of the
    current flow run if there is one) and return its final state, like
    ``flow(**parameters, return_state=True)``."""
    engine = _ModelRunEngine(flow=flow, parameters=get_call_parameters(flow.fn, (), parameters))
    with engine.start():
        while engine.is_running():
            with engine.run_context():
                engine.call_flow_fn()
    return engine.state
