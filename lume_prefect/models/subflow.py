"""An in-process flow run (a model, a pipeline, a scan): Prefect's flow engine, without the API
calls and waits that buy it nothing.

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
  could act on, and the engine's own Running proposal is then already answered;
- the engine does not read the run back before running it: the API has just returned it;
- a run named by a template (``flow_run_name="scan {model} {version}"``) is created with its
  name, not renamed by a second request as it starts;
- a subflow sends no heartbeats: its parent's show the process alive. A run outside any flow
  run sends them from a thread that stops as soon as the run ends, where Prefect's sleeps in
  1 s steps and is joined at the end of every sync run (about a second per run);
- a run outside any flow run uses one client per API and process, kept open, where Prefect
  makes one per run (a new SSL context and connection: ~20 ms).

Three requests remain (tracking task run, flow run, final state); a "database is locked" 503 of
any of them is sent again after tens of ms (``models/locked_retry.py``). What is given up is listed
in the README (One run is cheap too).
"""

from __future__ import annotations

import contextvars
import hashlib
import inspect
import os
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any, Optional
from uuid import UUID, uuid4

from prefect import Task
from prefect.client.schemas.actions import FlowCreate, FlowRunCreate
from prefect.client.schemas.objects import Flow, FlowRun, FlowRunPolicy, TaskRunResult
from prefect.context import FlowRunContext, SyncClientContext, TagsContext, TaskRunContext
from prefect.exceptions import PrefectHTTPStatusError
from prefect.flow_engine import FlowRunEngine
from prefect.states import Pending, Running, State, to_state_create
from prefect.utilities.callables import get_call_parameters
from prefect.utilities.engine import collect_task_run_inputs_sync

from lume_prefect.models.locked_retry import retry_locked_quickly

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


def create_running_flow_run(client: Any, flow: Any, parameters: dict[str, Any], parent_task_run_id: UUID | None, tags: Any,
                            name: Optional[str] = None) -> FlowRun:
    """A flow run of ``flow`` created Running (``SyncPrefectClient.create_flow_run`` without its
    flow upsert), named ``name`` (else the API's random slug); a flow id the API no longer
    knows (409) is asked again once."""
    for refresh in (False, True):
        create = FlowRunCreate(
            flow_id=flow_id(client, flow.name, refresh=refresh), flow_version=flow.version, **({"name": name} if name else {}),
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


def _template_name(flow: Any, parameters: dict[str, Any]) -> Optional[str]:
    """The run's name from the flow's ``flow_run_name`` template, as Prefect's engine makes it
    when the run starts (``resolve_custom_flow_run_name``), to give when the run is created;
    None for a callable (it may read the run's context, not yet there) or a template that
    fails (the engine then fails the run as it would)."""
    template = flow.flow_run_name
    if not isinstance(template, str):
        return None
    try:
        return template.format(**parameters)
    except Exception:  # noqa: BLE001 - Prefect's own renaming reports it
        return None


class _InProcessRunEngine(FlowRunEngine[Any, Any]):
    _created_running: bool = False
    _known_run: Optional[FlowRun] = None  # the run as the API returned it when creating it
    _in_parent: bool = False  # a subflow of a flow run of this process
    _tracking_id: Optional[UUID] = None  # the run's task run in its parent's graph
    _meanwhile: Optional[Callable[[], None]] = None  # the caller's work while the API creates the run
    _server_storage: Any = None  # the API's default result storage, as read for this run's start

    def create_flow_run(self, client: Any) -> Any:
        retry_locked_quickly(client)  # every request of the run, not Prefect's 2 s back-off first
        meanwhile, self._meanwhile = self._meanwhile, None
        if meanwhile is None:
            return self._create_flow_run(client)
        return _while_creating(self, client, meanwhile)

    def _create_flow_run(self, client: Any) -> Any:
        parent = FlowRunContext.get()
        if parent is not None and parent.detached:
            return super().create_flow_run(client)
        parameters = self.parameters or {}
        tags = TagsContext.get().current_tags
        tracking_id = None
        self._in_parent = parent is not None and parent.flow_run is not None
        if self._in_parent:
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
        self._tracking_id = tracking_id
        name = _template_name(self.flow, parameters)
        run = create_running_flow_run(client, self.flow, parameters, tracking_id, tags, name)
        self._flow_run_name_set = name is not None  # the engine would rename the run (a PATCH) as it starts
        self._created_running = True
        self._known_run = run
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

    @contextmanager
    def setup_run_context(self, client: Any = None) -> Iterator[None]:
        client = client or self.client
        known, self._known_run = self._known_run, None  # a retry reads the run again
        with ExitStack() as stack:
            # the engine's read of the run, and its reads of the server's default result storage
            # (two, for the run's result store and whether to persist), answered here
            with _reads_known_run(client, known), _reads_storage_once(self, client):
                stack.enter_context(super().setup_run_context(client))
            yield

    @property
    def heartbeat_seconds(self) -> Optional[int]:
        return None  # Prefect's heartbeat thread is replaced by ``_heartbeats`` (``run_context``)

    @contextmanager
    def run_context(self) -> Iterator[Any]:
        # a subflow's process is the parent's, whose heartbeats show it alive: if it dies, the
        # parent is marked Crashed, not the subflow (the README says so)
        seconds = None if self._in_parent else FlowRunEngine.heartbeat_seconds.fget(self)  # type: ignore[attr-defined]
        with super().run_context():
            with _heartbeats(self, seconds):
                yield self


def _while_creating(engine: _InProcessRunEngine, client: Any, meanwhile: Callable[[], None]) -> Any:
    """The engine's flow run, created by a thread (its one to three requests) while this thread
    does ``meanwhile``. The run is returned only when both are done. If ``meanwhile`` raises,
    the run (and its task run in the parent's graph) is deleted again and that error raised:
    the run never existed, as if ``meanwhile`` had run first. If the creation fails, its error
    is raised, with a note saying so."""
    made: dict[str, Any] = {}

    def create() -> None:
        try:
            made["run"] = engine._create_flow_run(client)
        except BaseException as error:  # noqa: BLE001 - raised by the caller's thread below
            made["error"] = error
            return
        try:  # what the run's start reads next (``_reads_storage_once``), while the caller still works
            engine._server_storage = type(client).read_server_default_result_storage(client)
        except Exception:  # noqa: BLE001 - the engine reads it itself, and falls back as Prefect does
            pass

    # the caller's context: the parent run, its task run and tags, the client and settings
    thread = threading.Thread(target=contextvars.copy_context().run, args=(create,), daemon=True,
                              name=f"lume-create-run-{engine.flow.name}")
    thread.start()
    try:
        meanwhile()
    except BaseException as error:
        thread.join()
        if "run" in made:
            _forget(client, made["run"].id, engine._tracking_id, error)
        raise
    thread.join()
    if "error" in made:
        error = made["error"]
        error.add_note(f"raised creating the flow run of {engine.flow.name!r} (in a thread, while the caller prepared it)")
        raise error
    return made["run"]


def _forget(client: Any, flow_run_id: UUID, tracking_id: Optional[UUID], cause: BaseException) -> None:
    """Delete a flow run made for work that failed before it began (and its tracking task run);
    what cannot be deleted is named on ``cause``."""
    for kind, run_id, delete in (("flow run", flow_run_id, client.delete_flow_run), ("task run", tracking_id, client.delete_task_run)):
        if run_id is None:
            continue
        try:
            delete(run_id)
        except Exception as error:  # noqa: BLE001 - the caller's own error is the one raised
            cause.add_note(f"its {kind} {run_id}, created meanwhile, could not be deleted ({type(error).__name__}: {error}); it stays Running")


@contextmanager
def _reads_known_run(client: Any, known: Optional[FlowRun]) -> Iterator[None]:
    """While entered, ``client.read_flow_run`` of the ``known`` run returns it without a request
    (any other run is read as usual: the client may be shared with other threads)."""
    if known is None:
        yield
        return
    read = type(client).read_flow_run

    def read_flow_run(flow_run_id: UUID) -> FlowRun:
        return known if flow_run_id == known.id else read(client, flow_run_id)

    client.read_flow_run = read_flow_run
    try:
        yield
    finally:
        client.__dict__.pop("read_flow_run", None)


@contextmanager
def _reads_storage_once(engine: _InProcessRunEngine, client: Any) -> Iterator[None]:
    """While entered, ``client.read_server_default_result_storage()`` is read from the API once
    for the run (or taken from ``engine._server_storage``, read while the run was created) and
    then answered from that: Prefect 3.9 reads it twice as a run starts, a request each. A
    failed read is not kept (the next asks again; Prefect falls back to local storage as before)."""
    read = type(client).read_server_default_result_storage

    def read_once() -> Any:
        if engine._server_storage is None:
            engine._server_storage = read(client)
        return engine._server_storage

    client.read_server_default_result_storage = read_once
    try:
        yield
    finally:
        client.__dict__.pop("read_server_default_result_storage", None)
        engine._server_storage = None  # a retry reads it again


@contextmanager
def _heartbeats(engine: FlowRunEngine[Any, Any], seconds: Optional[int]) -> Iterator[None]:
    """Prefect's flow run heartbeats (an event every ``seconds``, so a run whose process dies is
    marked Crashed by the automation of ``models/zombies.py``), from a thread that waits on an
    event instead of sleeping: it stops, and is joined, as soon as the run's function returns;
    then one event says the run ended.

    The thread first makes sure the server has the automation (once per process, API and
    interval, two requests): a heartbeat the server evaluates before it has the automation opens
    no window, and a run that died before its next heartbeat (30-180 s later) stayed Running."""
    if seconds is None:
        yield
        return
    from prefect.events import emit_event

    from lume_prefect.models.zombies import ENDED_EVENT, ensure_zombie_automation, heartbeat_resource

    resource, related = engine._build_heartbeat_event_template()
    resource = heartbeat_resource(resource, seconds)  # matched by the automation of models/zombies.py
    stop = threading.Event()

    def beat() -> None:
        ensure_zombie_automation(seconds)
        while not stop.is_set():
            if engine.flow_run and engine.flow_run.state and engine.flow_run.state.is_final():
                return
            try:
                engine._emit_flow_run_heartbeat(resource, related)
            except Exception:  # noqa: BLE001 - a missed heartbeat must not fail the run
                engine.logger.debug("Failed to emit heartbeat", exc_info=True)
            stop.wait(seconds)

    # the caller's context: the same settings (API URL) and events worker as the run
    thread = threading.Thread(target=contextvars.copy_context().run, args=(beat,), daemon=True,
                              name=f"lume-heartbeat-{engine.flow_run.id}")
    thread.start()
    try:
        yield
    finally:
        stop.set()
        # at once, unless the automation's requests (a process's first run) or an emit are still
        # under way: then up to 2 s (the thread is a daemon, as Prefect's)
        thread.join(timeout=2)
        try:
            emit_event(event=ENDED_EVENT, resource=resource, related=related)  # the run ended: not a zombie
        except Exception:  # noqa: BLE001 - the automation's Crashed proposal is refused for an ended run anyway
            engine.logger.debug("Failed to emit the ended event", exc_info=True)


def run_flow_in_process(flow: Any, parameters: dict[str, Any], meanwhile: Optional[Callable[[], None]] = None) -> State:
    """Run the sync ``flow`` (a model, a pipeline, a scan) on ``parameters`` with Prefect's flow
    engine, as a subflow of the current flow run if there is one, and return its final state,
    like ``flow(**parameters, return_state=True)``.

    ``meanwhile``: the caller's work that must be done before the flow's function runs but
    that the run's creation does not need (a scan's check of its points): done in this thread
    while another creates the run, so its cost and the API's round trips overlap. If it
    raises, its error is raised and the run, already created, is deleted (``_while_creating``)."""
    engine = _InProcessRunEngine(flow=flow, parameters=_shown_parameters(flow, get_call_parameters(flow.fn, (), parameters)))
    engine._meanwhile = meanwhile
    try:
        with _client_context(), engine.start():
            while engine.is_running():
                with engine.run_context():
                    engine.call_flow_fn()
    except SystemExit as exc:
        # the flow called sys.exit(): Prefect has marked its run Crashed; the caller gets that
        # state (run_model: ModelRunFailed), not the end of its own process
        state = engine.state
        if state is None or not state.is_crashed():
            raise
        state = state.model_copy()
        state.message = f"{state.message or 'Crashed'} (the flow called sys.exit({exc.code!r}))"
        return state
    return engine.state


def _shown_parameters(flow: Any, bound: dict[str, Any]) -> dict[str, Any]:
    """The call's parameters without those its parameter schema leaves out (``lume_scan_batch``)
    while they hold their default: the run's Parameters tab shows what a person gave, as for a
    deployment run; the flow's function gets the default all the same."""
    shown = flow.parameters.properties
    signature = inspect.signature(flow.fn).parameters
    return {
        name: value for name, value in bound.items()
        if name in shown or name not in signature or signature[name].default is inspect.Parameter.empty or value is not signature[name].default
    }


_shared_clients: dict[tuple[str, str], SyncClientContext] = {}  # (API URL, credentials' hash) -> an open client
_shared_clients_lock = threading.Lock()
os.register_at_fork(after_in_child=_shared_clients.clear)  # a forked child must not share the parent's connections


@contextmanager
def _client_context() -> Iterator[None]:
    """The client of a run: the current one inside a flow run (or any client context), else the
    one kept open for this API in this process. It is never closed: runs come and go, the
    process's connection to its API stays (an ephemeral API stays up as long, too)."""
    if SyncClientContext.get() is not None:
        yield
        return
    from prefect.settings import get_current_settings

    settings = get_current_settings()
    api = settings.api
    credentials = "\n".join(str(v.get_secret_value() if hasattr(v, "get_secret_value") else v) for v in (api.key, api.auth_string))
    key = (str(api.url), hashlib.sha256(credentials.encode()).hexdigest())  # no secret kept in the clear
    with _shared_clients_lock:
        shared = _shared_clients.get(key)
        if shared is None:
            shared = SyncClientContext()
            with ExitStack() as opened:
                opened.enter_context(shared.client)
                if settings.client.server_version_check_enabled:
                    shared.client.raise_for_api_version_mismatch_once()
                opened.pop_all()  # kept open
            _shared_clients[key] = shared
    token = SyncClientContext.__var__.set(shared)  # entered for this context only: threads may share the client
    try:
        yield
    finally:
        SyncClientContext.__var__.reset(token)
