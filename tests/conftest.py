"""Test session setup: one ephemeral Prefect API for the whole session, real components."""

from __future__ import annotations

import os
import tempfile
from types import SimpleNamespace

# Before Prefect is imported anywhere: no telemetry, test mode, a private Prefect home.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("PREFECT_TEST_MODE", "1")
os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="lume-prefect-home-"))
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")

import pytest  # noqa: E402

from tests.components import MLflowServer, PrefectServer, S3Server  # noqa: E402


# Tests that share the machine's Slurm cluster, or its container engine, run in order on one
# xdist worker per engine: some restart slurmd, some count the jobs or containers left behind.
# The two engines are independent, so their two queues run side by side. Tests are told by their
# node id (a test that submits to Slurm has "slurm" in its name or id; the every-path test uses
# both engines and queues with Slurm), as the scheduler sees only ids.
SLURM_PATHS = ("tests/slurm/", "tests/containers/test_every_path.py")
CONTAINER_PATHS = ("tests/containers/",)


def engine_of(nodeid: str) -> str | None:
    """The engine queue a test runs in ("slurm" or "containers"), or None for any worker."""
    if nodeid.startswith(SLURM_PATHS) or "slurm" in nodeid.lower():
        return "slurm"
    if nodeid.startswith(CONTAINER_PATHS):
        return "containers"
    return None


def uses_engines(nodeid: str) -> bool:
    return engine_of(nodeid) is not None


def pytest_xdist_make_scheduler(config, log):
    from xdist.scheduler import LoadScopeScheduling

    class EnginesInOneScopeEach(LoadScopeScheduling):
        """Every test its own unit of work, except those on an engine: one unit per engine, in order."""

        def _split_scope(self, nodeid: str) -> str:
            return engine_of(nodeid) or nodeid

    return EnginesInOneScopeEach(config, log)


@pytest.fixture(scope="session")
def prefect_api():
    """The session's single ephemeral Prefect API (SQLite), started on first use (~10 s; up to 180 s on a busy machine)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield


@pytest.fixture(autouse=True)
def _prefect_for_marked_tests(request):
    # Tests marked `prefect` get the shared API; unit tests never pay for it.
    if request.node.get_closest_marker("prefect"):
        request.getfixturevalue("prefect_api")


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory):
    """A real ``prefect server start`` (API and UI) for the session, for workers and the browser."""
    server = PrefectServer(tmp_path_factory.mktemp("prefect-server"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def s3_server():
    server = S3Server()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory):
    """A real ``mlflow server`` (SQLite backend store, local artifact root) for the session;
    ``$LUME_TEST_MLFLOW_URL`` names one already running instead (its models are deleted by tests)."""
    if os.environ.get("LUME_TEST_MLFLOW_URL"):
        yield SimpleNamespace(url=os.environ["LUME_TEST_MLFLOW_URL"].rstrip("/"))
        return
    server = MLflowServer(tmp_path_factory.mktemp("mlflow-server"))
    yield server
    server.stop()


@pytest.fixture
def s3_bucket(s3_server):
    """A fresh, empty bucket on the local S3 server; its name."""
    import uuid

    import s3fs

    name = f"test-{uuid.uuid4().hex[:12]}"
    fs = s3fs.S3FileSystem(key="testing", secret="testing", client_kwargs={"endpoint_url": s3_server.endpoint_url}, skip_instance_cache=True)
    fs.mkdir(name)
    return name

