"""Real components for tests: start them on 127.0.0.1 with free ports, or skip saying how.

A test that needs an absent component calls ``require(...)``: it skips with a message that
names the script that starts the component, except under ``LUME_REQUIRE_COMPONENTS=1``
(set by ``.ci/run``), where the absence is a failure, so CI never passes on skipped tests.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def require(component: str, how_to_start: str) -> None:
    """Skip (or, in CI, fail) because ``component`` is not available."""
    message = f"{component} is not available: start it with {how_to_start}"
    if os.environ.get("LUME_REQUIRE_COMPONENTS") == "1":
        pytest.fail(f"required component missing in CI: {message}", pytrace=False)
    pytest.skip(message)


def free_port() -> int:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_http(url: str, timeout: float = 30.0, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process for {url} exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except Exception as exc:  # noqa: BLE001 - any failure means "not yet"
            last = exc
            time.sleep(0.1)
    raise TimeoutError(f"{url} not ready after {timeout}s: {last}")


@contextmanager
def prefect_api_at(api_url: str) -> Iterator[None]:
    """This process's Prefect client calls and events go to the server at ``api_url`` inside.

    Prefect keeps one events worker per process, bound to the API URL that was current when it
    started: without draining it at both ends, a switch of ``PREFECT_API_URL`` sends later
    events (task-run states among them) to whichever server the worker first met.
    """
    from prefect.settings import PREFECT_API_URL, temporary_settings

    drain_prefect_events()
    try:
        with temporary_settings({PREFECT_API_URL: api_url}):
            yield
    finally:  # the worker keeps its client's URL: what was queued inside still goes there
        drain_prefect_events()


def drain_prefect_events(timeout: float = 30) -> None:
    """Send what Prefect's events worker holds and stop it (the next event starts a new one).
    In a thread of its own: called inside an event loop, ``drain_all`` only returns a coroutine."""
    import threading

    from prefect.events.worker import EventsWorker

    drain = threading.Thread(target=EventsWorker.drain_all, kwargs={"timeout": timeout, "at_exit": False}, daemon=True)
    drain.start()
    drain.join(timeout + 5)


@contextmanager
def prefect_worker(pool: str, env: dict[str, str], home: Path, pool_type: str = "process", **extra_env: str) -> Iterator[subprocess.Popen]:
    """`prefect worker start --type pool_type` on ``pool``, polling every second, its log in
    ``home/worker.log``; stopped with SIGINT (killed if it lingers) when the block ends."""
    import signal

    variables = {**env, "PREFECT_WORKER_QUERY_SECONDS": "1", "PREFECT_WORKER_PREFETCH_SECONDS": "5", "PREFECT_HOME": str(home), **extra_env}
    with open(home / "worker.log", "wb") as log:
        process = subprocess.Popen(
            [venv_script("prefect"), "worker", "start", "--pool", pool, "--type", pool_type],
            env=variables, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        yield process
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def venv_script(name: str) -> str | None:
    """A console script installed beside this Python, else on PATH."""
    candidate = Path(sys.executable).with_name(name)
    return str(candidate) if candidate.exists() else shutil.which(name)


class S3Server:
    """moto's S3-compatible HTTP server on 127.0.0.1 (the same wire protocol as AWS and MinIO)."""

    def __init__(self) -> None:
        executable = venv_script("moto_server")
        if executable is None:
            require("S3 server (moto_server)", "pip install -e '.[test]' (moto[server]); the tests start it")
        self.port = free_port()
        self.endpoint_url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [executable, "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_http(self.endpoint_url + "/moto-api/", process=self.process)

    def reset(self) -> None:
        request = urllib.request.Request(self.endpoint_url + "/moto-api/reset", method="POST")
        urllib.request.urlopen(request, timeout=10).close()

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


class MLflowServer:
    """A real ``mlflow server`` on 127.0.0.1:<free port>: a SQLite backend store and a local
    artifact root (served by the server, so clients need no access to the files)."""

    def __init__(self, home: Path):
        executable = venv_script("mlflow")
        if executable is None:
            require("MLflow tracking server (mlflow)", "pip install -e '.[test]' (mlflow); the tests start it")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = home / "mlflow.log"
        env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [
                    executable, "server", "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1",
                    "--backend-store-uri", f"sqlite:///{home / 'mlflow.db'}",
                    "--artifacts-destination", str(home / "artifacts"),
                ],
                env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=home,
            )
        wait_for_http(self.url + "/health", timeout=120, process=self.process)

    def stop(self) -> None:
        import signal

        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)  # gunicorn/uvicorn workers are its children
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


class PrefectServer:
    """A real ``prefect server start`` on 127.0.0.1:<free port> with its own SQLite database and UI."""

    def __init__(self, home: Path, env: dict[str, str] | None = None):
        executable = venv_script("prefect")
        if executable is None:
            require("prefect CLI", "pip install -e .")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.api_url = f"{self.url}/api"
        self.env = {
            **os.environ,
            "PREFECT_HOME": str(home),
            "PREFECT_API_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{home}/prefect.db",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_API_URL": self.api_url,
            "PREFECT_LOGGING_LEVEL": "INFO",
            **(env or {}),
        }
        self.env.pop("PREFECT_TEST_MODE", None)
        self.log_path = home / "server.log"
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [executable, "server", "start", "--host", "127.0.0.1", "--port", str(self.port)],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_for_http(self.api_url + "/health", timeout=120, process=self.process)

    def stop(self) -> None:
        import signal

        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def chromium_path() -> str:
    """Debian's Chromium (never a browser downloaded by a test tool)."""
    for candidate in ("/usr/bin/chromium", "/usr/bin/chromium-browser"):
        if os.path.exists(candidate):
            return candidate
    require("Chromium", "scripts/ci-components.sh (apt-get install chromium)")
    raise AssertionError("unreachable")


class SlowCompleteProxy:
    """An HTTP proxy in front of an S3 server that makes its multipart completes slow, as a
    loaded server assembling a large object is. ``plan`` says what happens to the successive
    complete requests: "late" is forwarded after ``hold`` seconds (it lands once the client
    has given up), "drop" is never forwarded (the connection closes after ``hold`` seconds);
    the completes after the plan, and all other requests, pass through. The first
    ``dropped_aborts`` aborts of multipart uploads are dropped too."""

    def __init__(self, upstream: str, *, hold: float, plan: list[str], dropped_aborts: int = 0) -> None:
        import http.client
        import http.server
        import threading
        from urllib.parse import urlsplit

        self.hold, self.plan, self.dropped_aborts = hold, list(plan), dropped_aborts
        self.requests: list[str] = []
        self._lock = threading.Lock()
        target = urlsplit(upstream)
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive and Expect: 100-continue, as botocore uses them

            def log_message(self, *args: object) -> None:
                pass

            def _forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                complete = self.command == "POST" and "uploadId=" in self.path
                with proxy._lock:
                    proxy.requests.append(f"{self.command} {self.path}")
                    action = proxy.plan.pop(0) if complete and proxy.plan else "pass"
                    if self.command == "DELETE" and "uploadId=" in self.path and proxy.dropped_aborts > 0:
                        proxy.dropped_aborts -= 1
                        action = "drop"
                if action != "pass":
                    time.sleep(proxy.hold)
                if action == "drop":
                    self.close_connection = True
                    return
                upstream_conn = http.client.HTTPConnection(target.hostname, target.port, timeout=120)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("expect", "connection")}
                upstream_conn.request(self.command, self.path, body=body, headers=headers)
                answer = upstream_conn.getresponse()
                data = answer.read()
                upstream_conn.close()
                try:
                    self.send_response(answer.status, answer.reason)
                    for k, v in answer.getheaders():
                        if k.lower() not in ("transfer-encoding", "connection", "content-length", "server", "date"):
                            self.send_header(k, v)
                    # a HEAD answer has no body but the object's length
                    self.send_header("Content-Length", answer.getheader("Content-Length", "0") if self.command == "HEAD" else str(len(data)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(data)
                except OSError:
                    self.close_connection = True  # the client gave up waiting

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.server.daemon_threads = True
        self.endpoint_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
