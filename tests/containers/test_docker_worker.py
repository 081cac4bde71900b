"""Model versions in containers: a prefect-docker worker on podman's API runs toy-beam versions
deployed with the lume-prefect image, against the real Prefect server, with the registry and
results in PostgreSQL (reached from the container over the host network) and files written
through a MountedFiles block landing on the host."""

from __future__ import annotations

import os
import time
import uuid

import pytest
from pydantic import SecretStr

from lume_prefect.files import read_ref
from lume_prefect.models import ModelRunFailed
from lume_prefect.models.deploy import deploy_model
from lume_prefect.models.run import cancel_flow_run, run_model, wait_for_flow_run
from tests.components import ROOT
from tests.containers.conftest import build_model_image, container_removed, podman
from tests.databases import fresh_database
from tests.models.conftest import write_version
from tests.models.test_run_page import TOY_BEAM_UNITS, assert_outputs_on_run_page

pytestmark = pytest.mark.slow
ENTRY = "model.py:toy_beam"
IMAGE_USER_UID = 1000  # the lume user of deployments/Dockerfile
RUN_TIMEOUT = 240  # container start and Prefect's import on a busy 2-core machine


@pytest.fixture(scope="module")
def stack(real_api, docker_worker, lume_image, tmp_path_factory):
    """Saved remote services on the docker pool: PostgreSQL registry and results, files on a
    host directory mounted at /data; toy-beam 1.0.0 from the lume image, 1.1.0-1.3.0 from a
    model image built on it."""
    from lume_prefect.files import MountedFiles
    from lume_prefect.registry import ModelRegistry
    from lume_prefect.results import SQLResults
    from lume_prefect.services import LumeServices

    home = tmp_path_factory.mktemp("docker-stack")
    data = home / "data"
    data.mkdir()
    os.chown(data, IMAGE_USER_UID, IMAGE_USER_UID)  # the README: the host directory must be writable by the image's user
    with fresh_database("postgresql") as url:
        name = f"docker-{uuid.uuid4().hex[:6]}"
        LumeServices(
            files=MountedFiles(host_path=str(data), mount_path="/data"),
            registry=ModelRegistry(url=SecretStr(url)),
            results=SQLResults(url=SecretStr(url)),
            run_mode="remote",
            work_pool=docker_worker["pool"],
        ).save(name, _sync=True)
        sources = {
            "1.1.0": write_version(home / "models" / "v1.1.0", "1.1.0", seed=8),
            "1.2.0": write_version(home / "models" / "v1.2.0", "1.2.0", body='__import__("time").sleep(300)'),
            "1.3.0": write_version(home / "models" / "v1.3.0", "1.3.0", body='__import__("os")._exit(3)'),
        }
        model_image = build_model_image(lume_image, sources, f"localhost/toy-beam-test:{uuid.uuid4().hex[:8]}")
        # the session's Prefect server is shared by test modules, each with its own services: take over
        # the version's deployment should another module's services own it (DeploymentOfOtherServices)
        deployed = {
            "1.0.0": deploy_model(ENTRY, str(ROOT / "flows/toy_beam"), services=name, image=lume_image, runs_from="/opt/lume-prefect/flows/toy_beam", replace=True),
            **{v: deploy_model(ENTRY, str(s), services=name, image=model_image, runs_from=f"/opt/models/{v}", replace=True) for v, s in sources.items()},
        }
        yield {"name": name, "data": data, "url": url, "deployed": deployed, "image": lume_image, "model_image": model_image}
        podman("rmi", "-f", model_image, check=False)


def services(stack):
    from lume_prefect.services import LumeServices

    return LumeServices.load(stack["name"], _sync=True)


def test_a_deployment_runs_from_its_image_with_the_mounted_files_as_a_volume(stack):
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name("toy-beam/1.1.0")
    assert deployment.work_pool_name == services(stack).work_pool
    assert deployment.job_variables["image"] == stack["model_image"]
    assert deployment.job_variables["volumes"] == [f"{stack['data']}:/data"]  # from the MountedFiles block
    assert deployment.pull_steps == [{"lume_prefect.models.pull.set_working_directory": {"directory": "/opt/models/1.1.0"}}]
    assert services(stack).registry.get_version("toy-beam", "1.0.0", _sync=True).image == stack["image"]


def test_versions_run_in_containers_promote_and_revert(stack, docker_client):

    env = services(stack)
    env.registry.promote("toy-beam", "1.0.0", _sync=True)
    v1 = run_model("toy-beam", {"sigma_x": 2e-3, "save_particles": True}, services=stack["name"], timeout=RUN_TIMEOUT)
    assert v1.mode == "remote" and v1.version == "1.0.0" and not v1.cached
    # The result was written from inside the container into PostgreSQL, with its flow run.
    stored = env.results.get(v1.result.key, _sync=True)
    assert stored.flow_run_id == v1.flow_run_id and stored.outputs["rms_x"] == v1.outputs["rms_x"]
    # The particles file was written through MountedFiles at /data inside the container, by
    # the image's non-root user, and is on the host at the block's host_path.
    [ref] = v1.result.files
    assert ref.url.startswith("file:///data/toy-beam/1.0.0/particles-")  # the container's side of the mount
    particles = stack["data"] / ref.path
    assert particles.is_file() and particles.stat().st_uid == IMAGE_USER_UID
    assert read_ref(ref, env.files)["x"].shape == (10_000,)  # read back on the host through the same block
    assert container_removed(docker_client, v1.flow_run_id)  # the pool's auto_remove: no Exited container left
    assert_outputs_on_run_page(v1.flow_run_id, v1.result, TOY_BEAM_UNITS)  # outputs, key and particles file on its page

    env.registry.promote("toy-beam", "1.1.0", _sync=True)
    v2 = run_model("toy-beam", {"sigma_x": 2e-3, "save_particles": True}, services=stack["name"], timeout=RUN_TIMEOUT)
    assert v2.version == "1.1.0" and v2.mode == "remote" and v2.outputs["rms_x"] != v1.outputs["rms_x"]
    env.registry.revert("toy-beam", _sync=True)
    back = run_model("toy-beam", {"sigma_x": 2e-3, "save_particles": True}, services=stack["name"], timeout=RUN_TIMEOUT)
    assert back.version == "1.0.0" and back.cached and back.outputs == v1.outputs


def test_cancel_stops_the_container(stack, docker_client):
    from prefect.client.orchestration import get_client

    started = run_model("toy-beam", {}, version="1.2.0", services=stack["name"], wait=False)
    deadline = time.monotonic() + RUN_TIMEOUT
    with get_client(sync_client=True) as client:
        while not client.read_flow_run(started.flow_run_id).state.is_running():
            assert time.monotonic() < deadline, "the sleeping version never started"
            time.sleep(1)
        cancel_flow_run(started.flow_run_id)
        final = wait_for_flow_run(started.flow_run_id, timeout=120)
    assert final is not None and final.is_cancelled(), final
    assert container_removed(docker_client, started.flow_run_id)  # stopped by the worker (not left sleeping 300 s), then removed


def test_a_crashing_run_in_a_container_is_reported_as_crashed_with_its_exit_code(stack, docker_client):
    with pytest.raises(ModelRunFailed) as info:
        run_model("toy-beam", {}, version="1.3.0", services=stack["name"], timeout=RUN_TIMEOUT)
    assert info.value.state.is_crashed()
    assert f"flow run {info.value.flow_run_id} ended Crashed: Process exited with status code: 3" in str(info.value)
    # The engine in the container ran the flow in a child process, saw it die, reported it, and ends.
    assert container_removed(docker_client, info.value.flow_run_id)
