"""Fixtures of the scan tests: a fast model with points that fail, registered in private services."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.models.conftest import temp_services

QUAD = '''
"""A thin-lens quadrupole scan model: fast, numpy, and failing where the lattice is unstable."""

import numpy as np

from lume_prefect.models import ModelSpec

spec = ModelSpec(
    name="{name}",
    version="{version}",
    author="lume-prefect tests",
    laboratory="test",
    facility="test",
    beampath="test",
    inputs=[
        {{"name": "k1", "range": [-5.0, 5.0], "units": "1/m^2", "default": 0.0}},
        {{"name": "length", "range": [0.01, 2.0], "units": "m", "default": 0.1}},
        {{"name": "label", "type": "str", "default": "q"}},
    ],
    outputs=[{{"name": "focal_length", "units": "m"}}, {{"name": "beam"}}],
)


@spec.flow
def quad(k1: float, length: float, label: str) -> dict:
    if k1 == 4.5:
        raise ValueError(f"unstable lattice at k1={{k1}}")
    if label.startswith("cut:"):  # the store goes away mid-scan: its table is renamed
        import sqlite3

        with sqlite3.connect(label[4:]) as connection:
            connection.execute("ALTER TABLE lume_results RENAME TO lume_results_away")
    if label == "unstorable":
        return {{"focal_length": 1.0, "beam": open}}  # a function cannot be stored
    sigma = np.abs(1.0 - k1 * length * np.linspace(0.0, 1.0, 8))
    return {{"focal_length": 1.0 / (k1 * length) if k1 else float("inf"), "beam": float(sigma.mean())}}
'''


def write_quad(directory: Path, name: str, version: str = "1.0.0") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "model.py").write_text(QUAD.format(name=name, version=version))
    return directory


def services_with_live_model(tmp_path: Path, entrypoint: str, source: Path, name: str):
    """(services, name): a saved LumeServices on private SQLite files under ``tmp_path`` with
    version 1.0.0 of the model at ``source`` registered and live."""
    from lume_prefect.models.deploy import register_model_version
    from lume_prefect.services import LumeServices

    services = temp_services(tmp_path / "services")
    block = f"scan-services-{uuid.uuid4().hex[:8]}"
    services.save(block, _sync=True)
    services = LumeServices.load(block, _sync=True)
    register_model_version(entrypoint, str(source), services=services)
    services.registry.promote(name, "1.0.0", _sync=True)
    return services, name


def services_with_live_code(tmp_path: Path, code: str, function: str):
    """(services, name): ``services_with_live_model`` of a model written from ``code`` (a template
    with ``{name}``) as ``<function>-<random>/model.py``, its flow being ``function``."""
    name = f"{function}-{uuid.uuid4().hex[:6]}"
    source = tmp_path / function
    source.mkdir()
    (source / "model.py").write_text(code.format(name=name))
    return services_with_live_model(tmp_path, f"model.py:{function}", source, name)


@pytest.fixture
def quad_services(tmp_path):
    """(services, model name): a saved LumeServices on private SQLite files with a live quad model."""
    name = f"quad-{uuid.uuid4().hex[:6]}"
    return services_with_live_model(tmp_path, "model.py:quad", write_quad(tmp_path / "quad", name), name)


def batch_task_runs(flow_run_id, expected: int) -> list:
    """The task runs of a scan's flow run named "batch ...", once ``expected`` of them are final."""
    import time

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import TaskRunFilter, TaskRunFilterFlowRunId

    deadline = time.monotonic() + 30  # task runs are recorded from their state events, sent in batches
    with get_client(sync_client=True) as client:
        while True:
            runs = client.read_task_runs(task_run_filter=TaskRunFilter(flow_run_id=TaskRunFilterFlowRunId(any_=[flow_run_id])))
            batches = [r for r in runs if r.name.startswith("batch ")]
            # a task run is recorded from its first event; its state may come in a later batch of them
            if sum(r.state is not None and r.state.is_final() for r in batches) >= expected or time.monotonic() > deadline:
                return batches
            time.sleep(0.2)



PROBE = '''
"""Tells where each point ran: the process, whether Prefect was imported there, its tag and Slurm job."""

import multiprocessing
import os
import sys

from lume_prefect.models import ModelSpec


class LicenceError(Exception):
    """An error class of the model's own module."""


if os.environ.get("PROBE_NEEDS_A_LICENCE") and multiprocessing.parent_process() is not None:
    raise LicenceError("no licence server for this worker")

spec = ModelSpec(name="{name}", version="1.0.0", author="tests", laboratory="test", facility="test", beampath="test", inputs=[{{"name": "x", "range": [0, 100]}}],
                 outputs=[{{"name": "pid", "type": "any"}}, {{"name": "prefect", "type": "any"}}, {{"name": "y"}},
                          {{"name": "tag", "type": "any"}}, {{"name": "job", "type": "any"}}])


@spec.flow
def probe(x: float) -> dict:
    # tag: what the cluster's configuration put in its workers' environment; job: their Slurm job
    return {{"pid": os.getpid(), "prefect": "prefect" in sys.modules, "y": 2 * x, "tag": os.environ.get("PROBE_TAG"),
            "job": os.environ.get("SLURM_JOB_ID")}}
'''


@pytest.fixture
def probe_services(tmp_path):
    """(services, model name): saved services with a live probe model."""
    return services_with_live_code(tmp_path, PROBE, "probe")


from tests.results.conftest import mongo_server, sql_store, store  # noqa: E402,F401 - the stores on every backend


def results_block(backend: str, request):
    """A results block on a fresh, empty database of ``backend`` (sqlite, postgresql, mongo)."""
    from pydantic import SecretStr

    from lume_prefect.results import MongoResults, SQLResults
    from tests.databases import fresh_database

    if backend == "mongo":
        server = request.getfixturevalue("mongo_server")
        return MongoResults(url=SecretStr(server.url), database=f"scan_{uuid.uuid4().hex[:10]}")
    context = fresh_database(backend)
    url = context.__enter__()
    block = SQLResults(url=SecretStr(url))
    request.addfinalizer(lambda: (block.store().close(), context.__exit__(None, None, None)))
    return block


@pytest.fixture
def services_on(tmp_path, request):
    """Build saved services whose results live on ``backend``, with a live quad model; (services, model)."""
    from lume_prefect.models.deploy import register_model_version
    from lume_prefect.services import LumeServices

    def make(backend: str = "sqlite"):
        name = f"quad-{uuid.uuid4().hex[:6]}"
        home = tmp_path / f"services-{uuid.uuid4().hex[:6]}"
        services = temp_services(home)
        services.results = results_block(backend, request)
        block = f"scan-services-{uuid.uuid4().hex[:8]}"
        services.save(block, _sync=True)
        services = LumeServices.load(block, _sync=True)
        register_model_version("model.py:quad", str(write_quad(home / "quad", name)), services=services)
        services.registry.promote(name, "1.0.0", _sync=True)
        return services, name

    return make
