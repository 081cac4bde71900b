"""The in-process flow engine (``models/subflow.py``) on the real Prefect API: heartbeats that stop
with the run, one client per API for runs outside any flow run, no re-read of a run the API has
just returned, retries that still read the run again, and a "database is locked" 503 sent again
after tens of ms."""

from __future__ import annotations

import multiprocessing
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.context import SyncClientContext

from lume_prefect.models import subflow
from lume_prefect.models.subflow import run_flow_in_process
from tests.components import drain_prefect_events

pytestmark = pytest.mark.prefect


@flow
def probe(pause: float = 0.0) -> dict:
    from prefect.runtime import flow_run

    time.sleep(pause)
    return {"id": str(flow_run.id), "threads": [t.name for t in threading.enumerate()], "client": id(SyncClientContext.get().client)}


def heartbeat_events(flow_run_id: str, wait: float = 20.0) -> list:
    """The heartbeat events of a flow run the API has stored (its event persister writes in batches)."""
    drain_prefect_events()
    query = {"filter": {"event": {"name": ["prefect.flow-run.heartbeat"]}, "any_resource": {"id": [f"prefect.flow-run.{flow_run_id}"]}}}
    deadline = time.monotonic() + wait
    with get_client(sync_client=True) as client:
        while True:
            events = client.request("POST", "/events/filter", json=query).json()["events"]
            if events or time.monotonic() > deadline:
                return events
            time.sleep(0.5)


def test_a_run_outside_any_flow_heartbeats_until_it_ends_and_not_after():
    state = run_flow_in_process(probe, {"pause": 0.2})
    seen = state.result()
    beating = f"lume-heartbeat-{seen['id']}"
    assert beating in seen["threads"]  # the run's own heartbeats while it ran
    assert beating not in [t.name for t in threading.enumerate()]  # stopped and joined when it returned
    events = heartbeat_events(seen["id"])
    assert events and events[0]["resource"]["prefect.resource.id"] == f"prefect.flow-run.{seen['id']}"


def test_a_subflow_leaves_the_heartbeats_to_its_parent():
    @flow
    def parent() -> dict:
        return run_flow_in_process(probe, {}).result()

    seen = parent()
    assert not any(name.startswith("lume-heartbeat-") for name in seen["threads"])


def test_runs_outside_any_flow_share_one_open_client_and_leave_no_client_context():
    first = run_flow_in_process(probe, {}).result()
    second = run_flow_in_process(probe, {}).result()
    assert first["client"] == second["client"]  # one client per API and process
    assert SyncClientContext.get() is None  # set for the run only
    with get_client(sync_client=True) as client:
        for seen in (first, second):
            assert client.read_flow_run(seen["id"]).state.is_completed()


def test_a_forked_child_does_not_share_the_parents_client():
    run_flow_in_process(probe, {})
    assert subflow._shared_clients  # the parent keeps its client open
    child = multiprocessing.get_context("fork").Process(target=_exit_with_cached_clients)
    child.start()
    child.join(60)
    assert child.exitcode == 0  # the child's cache was empty after the fork


def _exit_with_cached_clients() -> None:
    import os

    os._exit(len(subflow._shared_clients))


def test_a_run_in_a_flow_makes_three_requests_and_does_not_read_its_run_back():
    # counted where requests leave for the API (the transport): a request sent again after a 503
    # (SQLite "database is locked", quickly by us or after Prefect's back-off) is the same
    # request of ours, sent twice; it is allowed only after a 503
    sends: list[tuple[httpx.Request, int]] = []
    handle = httpx.HTTPTransport.handle_request

    def recording(transport, request):
        response = handle(transport, request)
        if "/logs/" not in request.url.path and "/events" not in request.url.path:
            sends.append((request, response.status_code))
        return response

    @flow
    def parent() -> dict:
        httpx.HTTPTransport.handle_request = recording
        try:
            return run_flow_in_process(probe, {}).result()
        finally:
            httpx.HTTPTransport.handle_request = handle

    run_flow_in_process(probe, {})  # the flow's id, asked once per API and flow name
    seen = parent()
    requests = list({id(request): request for request, _ in sends}.values())  # in order of first send
    assert [f"{r.method} {r.url.path}".replace(" /api/", " /") for r in requests] == [
        "POST /task_runs/", "POST /flow_runs/", f"POST /flow_runs/{seen['id']}/set_state"]
    last: dict[int, int] = {}  # request -> the status of its last send
    for request, status in sends:
        assert last.get(id(request), 503) == 503, f"{request.method} {request.url.path} sent again after a {last[id(request)]}"
        last[id(request)] = status


def test_a_retried_run_reads_its_run_again_and_completes():
    attempts: list[int] = []

    @flow(retries=1, retry_delay_seconds=0)
    def flaky() -> int:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("first attempt fails")
        return len(attempts)

    state = run_flow_in_process(flaky, {})
    assert state.is_completed() and state.result() == 2
    with get_client(sync_client=True) as client:
        history = [s.name for s in client.read_flow_run_states(state.state_details.flow_run_id)]
    assert history[0] == "Running" and "AwaitingRetry" in history and history[-1] == "Completed"


class LockingProxy:
    """A real HTTP proxy in front of the session's API that, while ``armed``, answers the first
    send of each write (a task run, a flow run, a state) as the Prefect server answers when its
    SQLite database is locked (a 503 with its body), and passes the same request on when it comes
    again. ``retry_after`` adds the header a server sends to ask for a wait; ``refuse``: a
    pattern of paths whose POSTs are always refused (422), armed or not."""

    WRITES = re.compile(r"/api/(task_runs|flow_runs)/([0-9a-f-]+/set_state)?$")

    def __init__(self, retry_after: str | None = None, refuse: str | None = None):
        from prefect.settings import PREFECT_API_URL

        upstream = httpx.URL(PREFECT_API_URL.value())
        self.upstream = httpx.Client(base_url=f"{upstream.scheme}://{upstream.host}:{upstream.port}", timeout=60)
        self.retry_after = retry_after
        self.refuse = re.compile(refuse) if refuse else None  # POSTs always answered 422 (an API's refusal)
        self.refused: list[str] = []
        self.armed = False
        self.locked: dict[tuple[str, str, bytes], float] = {}  # a write answered 503 -> when
        self.resent: dict[tuple[str, str, bytes], tuple[float, httpx.Headers]] = {}  # -> when it came again, its headers
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the API

            def log_message(self, *args):
                pass

            def do_GET(self):
                self.forward()

            do_POST = do_PATCH = do_PUT = do_DELETE = do_GET

            def forward(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                key = (self.command, self.path, body)
                if proxy.refuse is not None and self.command == "POST" and proxy.refuse.search(self.path):
                    proxy.refused.append(self.path)
                    return self.answer(422, b'{"detail":"refused by the test proxy"}', {"Content-Type": "application/json"})
                if proxy.armed and self.command == "POST" and proxy.WRITES.search(self.path):
                    if key not in proxy.locked:
                        proxy.locked[key] = time.monotonic()
                        extra = {"Retry-After": proxy.retry_after} if proxy.retry_after else {}
                        return self.answer(503, b'{"exception_message":"Service Unavailable"}', {"Content-Type": "application/json", **extra})
                    proxy.resent.setdefault(key, (time.monotonic(), httpx.Headers(list(self.headers.items()))))
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length", "connection")}
                try:
                    answer = proxy.upstream.request(self.command, self.path, content=body, headers=headers)
                except (RuntimeError, httpx.HTTPError):  # a late request (Prefect's log or event workers) after close()
                    return self.answer(502, b"", {})
                kept = {k: v for k, v in answer.headers.items() if k.lower() not in ("content-encoding", "content-length", "transfer-encoding", "connection")}
                self.answer(answer.status_code, answer.content, kept)

            def answer(self, status, body, headers):
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/api"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.upstream.close()

    def waits(self) -> list[float]:
        """Seconds from each 503 to the same request sent again."""
        return [self.resent[key][0] - at for key, at in self.locked.items() if key in self.resent]


def run_in_a_flow_behind(proxy: LockingProxy) -> dict:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    @flow
    def parent() -> dict:
        proxy.armed = True
        try:
            return run_flow_in_process(probe, {}).result()
        finally:
            proxy.armed = False

    with temporary_settings({PREFECT_API_URL: proxy.url}):
        return parent()


def test_a_locked_database_503_is_sent_again_within_a_second_with_prefects_headers():
    proxy = LockingProxy()
    try:
        seen = run_in_a_flow_behind(proxy)
    finally:
        proxy.close()
    paths = sorted(path for _, path, _ in proxy.locked)
    assert paths == sorted(["/api/task_runs/", "/api/flow_runs/", f"/api/flow_runs/{seen['id']}/set_state"])
    assert len(proxy.resent) == 3 and all(wait < 1.0 for wait in proxy.waits()), proxy.waits()  # Prefect's own: 2 s
    for _, headers in proxy.resent.values():  # the request Prefect's client made, sent again as it was
        assert headers["user-agent"].startswith("prefect/") and headers["x-prefect-flow-name"] in ("parent", "probe")
    with get_client(sync_client=True) as client:
        assert client.read_flow_run(seen["id"]).state.is_completed()


def test_a_503_that_asks_for_a_wait_is_left_to_prefects_retries():
    proxy = LockingProxy(retry_after="1")
    try:
        seen = run_in_a_flow_behind(proxy)
    finally:
        proxy.close()
    assert len(proxy.resent) == 3 and all(wait >= 1.0 for wait in proxy.waits()), proxy.waits()
    with get_client(sync_client=True) as client:
        assert client.read_flow_run(seen["id"]).state.is_completed()


@flow(flow_run_name="probe {pause}")
def named_probe(pause: float = 0.0) -> dict:
    from prefect.runtime import flow_run

    return {"id": str(flow_run.id), "name": flow_run.name}


def _recorded(call):
    """The API requests (no logs or events) made while ``call()`` runs, and its value."""
    paths: list[str] = []
    send = httpx.Client.send

    def recording(client, request, **options):
        if "/logs/" not in request.url.path and "/events" not in request.url.path:
            paths.append(f"{request.method} {request.url.path}".replace(" /api/", " /"))
        return send(client, request, **options)

    httpx.Client.send = recording
    try:
        return call(), paths
    finally:
        httpx.Client.send = send


def test_a_templated_run_is_created_with_its_name_and_not_renamed():
    seen, paths = _recorded(lambda: run_flow_in_process(named_probe, {"pause": 0.0}).result())
    assert seen["name"] == "probe 0.0"
    assert not [p for p in paths if p.startswith("PATCH")], paths
    with get_client(sync_client=True) as client:
        assert client.read_flow_run(seen["id"]).name == "probe 0.0"

    @flow(flow_run_name=lambda: "called")  # a callable may read the run's context: Prefect names the run as it starts
    def called_name() -> str:
        from prefect.runtime import flow_run

        return flow_run.name

    assert run_flow_in_process(called_name, {}).result() == "called"


def test_the_callers_work_meanwhile_is_done_before_the_flow_runs():
    order: list[str] = []

    @flow
    def after() -> list:
        order.append("flow")
        return order

    state = run_flow_in_process(after, {}, meanwhile=lambda: order.append("meanwhile"))
    assert state.is_completed() and state.result() == ["meanwhile", "flow"]


def test_a_run_whose_callers_work_fails_meanwhile_is_deleted_with_its_task_run():
    import uuid

    from prefect.client.schemas.filters import FlowFilter, FlowFilterName

    name = f"doomed-{uuid.uuid4().hex[:8]}"
    ran: list[int] = []

    @flow(name=name)
    def doomed() -> None:
        ran.append(1)

    def refuse() -> None:
        time.sleep(0.2)  # the run is created meanwhile
        raise ValueError("point 3 is out of range")

    @flow
    def parent() -> str:
        from prefect.runtime import flow_run

        with pytest.raises(ValueError, match="point 3"):
            run_flow_in_process(doomed, {}, meanwhile=refuse)
        return str(flow_run.id)

    parent_id = parent()
    assert ran == []
    with get_client(sync_client=True) as client:
        assert client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=[name]))) == []
        tracking = [t for t in client.read_task_runs() if t.flow_run_id is not None and str(t.flow_run_id) == parent_id]
    assert [t.name for t in tracking if t.name.startswith(name)] == []


def test_a_run_the_api_refuses_raises_its_error_after_the_callers_work_and_runs_nothing():
    from prefect.exceptions import PrefectHTTPStatusError

    ran: list[str] = []

    @flow
    def takes(blob: str) -> None:
        ran.append("flow")

    # the API refuses parameters of more than 512 KiB (server.api.max_parameter_size)
    with pytest.raises(PrefectHTTPStatusError) as raised:
        run_flow_in_process(takes, {"blob": "x" * 600_000}, meanwhile=lambda: ran.append("meanwhile"))
    assert raised.value.response.status_code == 422 and ran == ["meanwhile"]
    assert any("raised creating the flow run of 'takes'" in note for note in raised.value.__notes__)


def test_a_run_reads_the_servers_default_result_storage_once_as_it_starts():
    """Prefect 3.9 reads it twice as a run starts (its result store, whether to persist): one request here."""
    seen, paths = _recorded(lambda: run_flow_in_process(probe, {}).result())
    assert paths.count("GET /admin/storage") == 1, paths
    seen, paths = _recorded(lambda: run_flow_in_process(probe, {}, meanwhile=lambda: time.sleep(0.1)).result())
    assert paths.count("GET /admin/storage") == 1, paths  # read by the thread that created the run
