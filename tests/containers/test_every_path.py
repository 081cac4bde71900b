"""One registered model version on every path: in-process, a process worker, the Docker worker
(podman) and the Slurm worker. The same inputs give the same outputs on all four, each run's own
page shows its outputs with units and its result key, and the second run on each path is a cache
hit of that path's own first run."""

from __future__ import annotations

import inspect
import os
import sys
import uuid
from pathlib import Path

import pytest
from pydantic import SecretStr

from lume_prefect.models.deploy import deploy_model
from lume_prefect.models.run import run_model
from tests.components import ROOT
from tests.containers.conftest import create_pool, worker
from tests.databases import fresh_database
from tests.models.test_run_page import TOY_BEAM_UNITS, assert_outputs_on_run_page
from tests.slurm.conftest import slurm  # noqa: F401 - the running Slurm cluster (or a skip/failure saying how)

pytestmark = pytest.mark.slow
ENTRY = "model.py:toy_beam"
SOURCE = ROOT / "flows/toy_beam"
INPUTS = {"sigma_x": 1.5e-3, "drift_m": 3.0, "n_particles": 2000}


def slurm_worker_type() -> str:
    """The type name of lume-prefect's Slurm worker, as its class declares it."""
    from prefect.workers.base import BaseWorker

    import lume_prefect.slurm.worker as module

    [cls] = [c for _, c in inspect.getmembers(module, inspect.isclass) if issubclass(c, BaseWorker) and c.__module__ == module.__name__]
    return cls.type


@pytest.fixture(scope="module")
def paths(real_api, docker_worker, lume_image, slurm, tmp_path_factory):  # noqa: F811
    """Saved services (PostgreSQL registry and results, mounted files) and a process and a Slurm
    worker beside the Docker worker; the deploy arguments that put toy-beam 1.0.0 on each pool."""
    from lume_prefect.files import MountedFiles
    from lume_prefect.registry import ModelRegistry
    from lume_prefect.results import SQLResults
    from lume_prefect.services import LumeServices
    from lume_prefect.slurm import SlurmCluster

    home = tmp_path_factory.mktemp("every-path")
    os.chmod(home, 0o755)  # Slurm jobs work under it
    (home / "data").mkdir()
    os.chown(home / "data", 1000, 1000)  # writable by the image's user, as the README says
    process_pool = create_pool(real_api, "process", "process.json")
    slurm_type = slurm_worker_type()
    slurm_pool = create_pool(real_api, slurm_type, "slurm.json")
    cluster = f"cluster-{uuid.uuid4().hex[:6]}"
    (home / "slurm").mkdir(mode=0o755)
    # What a cluster user writes: activate the environment that has lume-prefect.
    SlurmCluster(working_dir=str(home / "slurm"), setup=[f". {Path(sys.executable).parent}/activate"], max_poll_interval=1.0).save(cluster, _sync=True)
    with fresh_database("postgresql") as url, \
            worker(real_api, process_pool, "process", tmp_path_factory.mktemp("process-worker")), \
            worker(real_api, slurm_pool, slurm_type, tmp_path_factory.mktemp("slurm-worker")):
        name = f"every-path-{uuid.uuid4().hex[:6]}"
        LumeServices(
            files=MountedFiles(host_path=str(home / "data"), mount_path="/data"),
            registry=ModelRegistry(url=SecretStr(url)), results=SQLResults(url=SecretStr(url)),
            run_mode="remote", work_pool=process_pool,
        ).save(name, _sync=True)
        yield {
            "services": name,
            "process": {"work_pool": process_pool},
            "docker": {"work_pool": docker_worker["pool"], "image": lume_image, "runs_from": "/opt/lume-prefect/flows/toy_beam"},
            "slurm": {"work_pool": slurm_pool, "job_variables": {"cluster": cluster, "time_limit": "00:05:00"}},
        }


@pytest.mark.timeout(1200)  # its fixture starts a server, a Docker and a Slurm worker and builds the image: setup counts
def test_one_version_gives_the_same_outputs_on_every_path_and_caches_on_each(paths):
    from prefect.client.orchestration import get_client

    from lume_prefect.services import LumeServices

    services = paths["services"]
    # the session's Prefect server is shared by test modules, each with its own services: take over
    # the version's deployment should another module's services own it (DeploymentOfOtherServices)
    first = deploy_model(ENTRY, str(SOURCE), services=services, replace=True, **paths["process"])
    registry = LumeServices.load(services, _sync=True).registry
    registry.promote("toy-beam", "1.0.0", _sync=True)
    registered = registry.get_version("toy-beam", "1.0.0", _sync=True)

    outputs = {}
    for path in ("in-process", "process", "docker", "slurm"):
        if path != "in-process":
            again = deploy_model(ENTRY, str(SOURCE), services=services, **paths[path])  # the same version, now on this pool
            assert not again.registered and again.deployment_id == first.deployment_id
        mode = "in-process" if path == "in-process" else "remote"
        ran = run_model("toy-beam", INPUTS, services=services, mode=mode, refresh=True, timeout=240)
        cached = run_model("toy-beam", INPUTS, services=services, mode=mode, timeout=240)
        assert ran.mode == mode and not ran.cached, path
        assert cached.cached and cached.result.flow_run_id == ran.flow_run_id and cached.outputs == ran.outputs, path
        assert_outputs_on_run_page(ran.flow_run_id, ran.result, TOY_BEAM_UNITS)  # the run's own page, on every path
        if mode == "remote":
            with get_client(sync_client=True) as client:
                assert client.read_flow_run(ran.flow_run_id).work_pool_name == paths[path]["work_pool"], path
        outputs[path] = ran.outputs

    assert registry.get_version("toy-beam", "1.0.0", _sync=True).sha256 == registered.sha256
    assert outputs["process"] == outputs["in-process"]
    assert outputs["docker"] == outputs["in-process"]
    assert outputs["slurm"] == outputs["in-process"]
