"""The services stack as containers: deployments/compose.yaml brought up with podman-compose
from the locally built images, blocks/compose.yaml applied with the CLI, toy-beam run on the
stack's process worker and Docker worker, results in its PostgreSQL, files in its S3 store;
`down` + `up` keeps it all (named volumes)."""

from __future__ import annotations

import os
import secrets
import subprocess
import time
import uuid

import pytest

from tests.components import ROOT, free_port, prefect_api_at, require, venv_script, wait_for_http
from tests.containers.conftest import PODMAN_SOCKET, build_model_image, container_removed, podman
from tests.models.conftest import write_version

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]  # a stack up, down and up again on 2 cores
ENTRY = "model.py:toy_beam"
COMPOSE_FILE = ROOT / "deployments/compose.yaml"


def compose(env: dict, project: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [venv_script("podman-compose"), "-f", str(COMPOSE_FILE), "-p", project, *args],
        env=env, capture_output=True, text=True, timeout=timeout, cwd=ROOT,
    )


@pytest.fixture(scope="module")
def stack(docker_client, images, lume_image, tmp_path_factory):
    """The stack up on free ports with fresh passwords; down (containers removed) afterwards."""
    if venv_script("podman-compose") is None:
        require("podman-compose", "pip install -e '.[test]'")
    names = images
    for image in names.values():
        if podman("image", "exists", image, check=False).returncode != 0:
            require(f"the compose stack's image {image}", "scripts/build-images.sh --stack")
    env = {
        **os.environ, **names,
        "LUME_PREFECT_PORT": str(free_port()), "LUME_PREFECT_DB_PORT": str(free_port()),
        "LUME_DB_PORT": str(free_port()), "LUME_S3_PORT": str(free_port()),
        "LUME_DB_PASSWORD": secrets.token_hex(12), "LUME_PREFECT_DB_PASSWORD": secrets.token_hex(12),
        "LUME_S3_KEY": secrets.token_hex(6), "LUME_S3_SECRET": secrets.token_hex(12), "LUME_DOCKER_SOCKET": PODMAN_SOCKET,
        "PREFECT_API_URL": "", "LUME_SERVICES": "compose",
    }
    env["PREFECT_API_URL"] = f"http://127.0.0.1:{env['LUME_PREFECT_PORT']}/api"
    env.pop("PREFECT_TEST_MODE", None)
    env["PREFECT_HOME"] = str(tmp_path_factory.mktemp("compose-client"))
    project = f"lume-test-{uuid.uuid4().hex[:6]}"
    started = time.monotonic()
    up = compose(env, project, "up", "-d")
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        wait_for_http(env["PREFECT_API_URL"] + "/health", timeout=240)
        yield {"env": env, "project": project, "up_seconds": time.monotonic() - started, "home": tmp_path_factory.mktemp("compose-models")}
    finally:
        logs = compose(env, project, "logs", timeout=120)
        (tmp_path_factory.getbasetemp() / f"{project}.log").write_text(logs.stdout + logs.stderr)
        down = compose(env, project, "down", "--volumes", timeout=300)  # this test's data too
        assert down.returncode == 0, down.stdout + down.stderr


@pytest.fixture(scope="module")
def client_settings(stack):
    """This process's Prefect client on the stack's server (its events sent while the stack is up)."""
    with prefect_api_at(stack["env"]["PREFECT_API_URL"]):
        yield


def wait_for_pools(*names: str, timeout: float = 240) -> None:
    """The workers create their pools from the templates when the API answers."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    deadline = time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        for name in names:
            while True:
                try:
                    pool = client.read_work_pool(name)
                    if "lume_services" in pool.base_job_template["variables"]["properties"]:
                        break
                except ObjectNotFound:
                    pass
                assert time.monotonic() < deadline, f"work pool {name} not created by its worker in {timeout} s"
                time.sleep(1)


def test_the_stack_serves_the_example_model_on_both_workers(stack, client_settings, lume_image, docker_client):
    import s3fs

    from lume_prefect.models.deploy import deploy_model
    from lume_prefect.models.run import run_model
    from lume_prefect.services import LumeServices

    env = stack["env"]
    applied = subprocess.run([venv_script("lume-prefect"), "profiles", "apply", str(ROOT / "blocks/compose.yaml")],
                             env=env, capture_output=True, text=True, timeout=180)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert env["LUME_DB_PASSWORD"] not in applied.stdout + applied.stderr
    services = LumeServices.load("compose", _sync=True)
    assert services.run_mode == "remote" and services.work_pool == "lume-process"
    wait_for_pools("lume-process", "lume-docker")

    # 1.0.0 on the process worker (its code is in the worker's image), 1.1.0 on the Docker worker (a model image).
    deploy_model(ENTRY, str(ROOT / "flows/toy_beam"), services="compose", runs_from="/opt/lume-prefect/flows/toy_beam")
    source = write_version(stack["home"] / "v1.1.0", "1.1.0", seed=8)
    model_image = build_model_image(lume_image, {"1.1.0": source}, f"localhost/toy-beam-compose:{uuid.uuid4().hex[:8]}")
    deploy_model(ENTRY, str(source), services="compose", work_pool="lume-docker", image=model_image, runs_from="/opt/models/1.1.0")
    services.registry.promote("toy-beam", "1.0.0", _sync=True)

    on_process = run_model("toy-beam", {"sigma_x": 2e-3, "save_particles": True}, services="compose", timeout=240)
    on_docker = run_model("toy-beam", {"sigma_x": 2e-3}, version="1.1.0", services="compose", timeout=240)
    again = run_model("toy-beam", {"sigma_x": 2e-3, "save_particles": True}, services="compose", timeout=240)
    assert on_process.mode == on_docker.mode == "remote" and on_process.outputs["rms_x"] != on_docker.outputs["rms_x"]
    assert again.cached and again.outputs == on_process.outputs

    # The results are rows of the stack's PostgreSQL; the particles an object in its S3 store.
    assert services.results.url.get_secret_value().endswith(f"@127.0.0.1:{env['LUME_DB_PORT']}/lume")
    assert {r.version for r in services.results.find(model="toy-beam", _sync=True)} == {"1.0.0", "1.1.0"}
    [ref] = on_process.result.files
    fs = s3fs.S3FileSystem(key="lume", secret=env["LUME_S3_SECRET"], client_kwargs={"endpoint_url": f"http://127.0.0.1:{env['LUME_S3_PORT']}"})
    assert fs.exists(f"lume/{ref.path}") and fs.size(f"lume/{ref.path}") == ref.size

    assert container_removed(docker_client, on_docker.flow_run_id)  # started by the stack's worker through podman's API, then removed
    podman("rmi", "-f", model_image, check=False)


def test_down_and_up_keeps_blocks_deployments_registry_results_and_files(stack, client_settings, docker_client):
    """What an operator expects of `compose down` + `compose up`: everything written before is
    there after, and the stack's process pool refuses a deployment it could not run."""
    import boto3

    from lume_prefect.files import read_ref
    from lume_prefect.models import RunsFromRequired
    from lume_prefect.models.deploy import deploy_model
    from lume_prefect.models.run import run_model
    from lume_prefect.services import LumeServices
    from prefect.client.orchestration import get_client

    env = stack["env"]
    applied = subprocess.run([venv_script("lume-prefect"), "profiles", "apply", str(ROOT / "blocks/compose.yaml")],
                             env=env, capture_output=True, text=True, timeout=180)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    wait_for_pools("lume-process")
    source = write_version(stack["home"] / "v2.0.0", "2.0.0", seed=11)
    with pytest.raises(RunsFromRequired, match="work pool 'lume-process' runs flows where"):
        deploy_model(ENTRY, str(source), services="compose")  # its workers are in containers: the host path is not there
    image_source = "/opt/lume-prefect/flows/toy_beam"
    deployed = deploy_model(ENTRY, str(ROOT / "flows/toy_beam"), services="compose", runs_from=image_source)
    services = LumeServices.load("compose", _sync=True)
    services.registry.promote("toy-beam", deployed.version, _sync=True)
    before = run_model("toy-beam", {"sigma_x": 2.5e-3, "save_particles": True}, services="compose", timeout=240)
    [ref] = before.result.files
    s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{env['LUME_S3_PORT']}", aws_access_key_id="lume",
                      aws_secret_access_key=env["LUME_S3_SECRET"], region_name="us-east-1")
    object_before = s3.head_object(Bucket="lume", Key=ref.path)

    project = stack["project"]
    down = compose(env, project, "down", timeout=300)
    assert down.returncode == 0, down.stdout + down.stderr
    up = compose(env, project, "up", "-d")
    assert up.returncode == 0, up.stdout + up.stderr
    wait_for_http(env["PREFECT_API_URL"] + "/health", timeout=240)

    again = LumeServices.load("compose", _sync=True)  # the blocks: Prefect's database
    assert again.work_pool == "lume-process" and again.run_mode == "remote"
    with get_client(sync_client=True) as client:  # the deployment and its flow run
        deployment = client.read_deployment_by_name(deployed.deployment_name)
        assert str(deployment.id) == deployed.deployment_id
        assert client.read_flow_run(before.flow_run_id).state.is_completed()
    version = again.registry.get_version("toy-beam", deployed.version, _sync=True)  # the registry: the stack's PostgreSQL
    assert version.deployment_id == deployed.deployment_id and again.registry.live_version("toy-beam", _sync=True).version == deployed.version
    stored = again.results.get(before.result.key, _sync=True)  # the results
    assert stored.outputs == before.outputs and stored.flow_run_id == before.flow_run_id
    object_after = s3.head_object(Bucket="lume", Key=ref.path)  # the files: the S3 store's volume
    assert object_after["ETag"] == object_before["ETag"] and object_after["Metadata"] == {"sha256": ref.sha256}
    assert read_ref(ref, again.files)["x"].shape == (10_000,)
    cached = run_model("toy-beam", {"sigma_x": 2.5e-3, "save_particles": True}, services="compose", timeout=240)
    assert cached.cached and cached.flow_run_id == before.flow_run_id
    wait_for_pools("lume-process")
    fresh = run_model("toy-beam", {"sigma_x": 3.5e-3}, services="compose", timeout=240)  # the workers are back too
    assert fresh.mode == "remote" and not fresh.cached
