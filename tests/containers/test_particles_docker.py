"""A ParticleGroup input of a LUME model deployed on the Docker worker (podman): the beam travels
into the container as the FileRef of its openPMD file in a MountedFiles block (the host's
directory, mounted at /data), and the Result comes back keyed by the beam's content, as
in-process. The image has lume-prefect's own dependencies; the deployment adds the LUME
libraries with EXTRA_PIP_PACKAGES, as a user's would."""

from __future__ import annotations

import os
import uuid

import pytest
from pydantic import SecretStr

from lume_prefect.models.deploy import deploy_model
from lume_prefect.models.run import run_model
from lume_prefect.results.codec import result_key
from tests.containers.conftest import docker_client, docker_worker, images, lume_image  # noqa: F401 - fixtures
from tests.databases import fresh_database
from tests.lume.conftest import write_source
from tests.lume.particle_models import DRIFT, drifted_mean_x, particles

pytestmark = pytest.mark.slow
LUME_LIBRARIES = "openpmd-beamphysics==0.16.3 lume-base==0.6.0"  # what the tests' environment has


@pytest.fixture(scope="module")
def in_docker(real_api, docker_worker, lume_image, tmp_path_factory):  # noqa: F811
    from lume_prefect.files import MountedFiles
    from lume_prefect.registry import ModelRegistry
    from lume_prefect.results import SQLResults
    from lume_prefect.services import LumeServices

    home = tmp_path_factory.mktemp("particles-docker")
    os.chmod(home, 0o755)
    data = home / "data"
    data.mkdir()
    os.chown(data, 1000, 1000)  # writable by the image's user, as the README says
    source = write_source(data / "drift", {"drift.py": DRIFT})  # the model's files, seen at /data/drift inside
    with fresh_database("postgresql") as url:
        name = f"particles-docker-{uuid.uuid4().hex[:6]}"
        LumeServices(
            files=MountedFiles(host_path=str(data), mount_path="/data"),
            registry=ModelRegistry(url=SecretStr(url)), results=SQLResults(url=SecretStr(url)),
            run_mode="remote", work_pool=docker_worker["pool"],
        ).save(name, _sync=True)
        # the session's Prefect server is shared by test modules, each with its own services: take over
        # the version's deployment should another module's services own it (DeploymentOfOtherServices)
        deploy_model("drift.py:make_drift", str(source), services=name, name="drift", version="1.0.0", work_pool=docker_worker["pool"], replace=True,
                     image=lume_image, runs_from="/data/drift", job_variables={"env": {"EXTRA_PIP_PACKAGES": LUME_LIBRARIES}})
        yield name


@pytest.mark.timeout(1200)  # the fixtures start a server and a Docker worker and build the image
def test_a_beam_given_to_a_version_in_a_container_comes_back_keyed_by_its_content(in_docker, docker_worker):  # noqa: F811
    from prefect.client.orchestration import get_client

    beam = particles(seed=41)
    run = run_model("drift", {"beam": beam, "length": 2.0}, version="1.0.0", services=in_docker, timeout=600)
    assert run.mode == "remote" and run.outputs["mean_x"] == pytest.approx(drifted_mean_x(beam, 2.0))
    assert run.result.key == result_key("drift", "1.0.0", {"beam": particles(seed=41), "length": 2.0})
    assert run.result.inputs["beam"] == beam
    assert run_model("drift", {"beam": particles(seed=41), "length": 2.0}, version="1.0.0", services=in_docker, mode="in-process").cached
    with get_client(sync_client=True) as client:
        flow_run = client.read_flow_run(run.flow_run_id)
    assert flow_run.work_pool_name == docker_worker["pool"] and flow_run.infrastructure_pid  # it ran in a container
