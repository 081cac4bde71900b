"""Containers for real: podman's Docker-compatible API, the lume-prefect image built by
scripts/build-images.sh, and a prefect-docker worker on the session's real Prefect server."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.components import ROOT, prefect_worker, require, venv_script
from tests.models.conftest import real_api  # noqa: F401 - the module's client calls go to the real server

PODMAN_SOCKET = os.environ.get("LUME_PODMAN_SOCKET", "/run/podman/podman.sock")
DOCKER_HOST = f"unix://{PODMAN_SOCKET}"


def podman(*args: str, timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout, check=check)


@pytest.fixture(scope="session")
def docker_client():
    """The Python docker SDK on podman's API socket (what prefect-docker's worker uses)."""
    import docker

    if shutil.which("podman") is None or not os.path.exists(PODMAN_SOCKET):
        require(f"podman (its Docker API on {DOCKER_HOST})", "scripts/start-podman.sh")
    client = docker.DockerClient(base_url=DOCKER_HOST, timeout=120)
    try:
        client.ping()
    except Exception as exc:  # noqa: BLE001 - any failure means "not serving"
        require(f"podman's Docker API on {DOCKER_HOST} ({type(exc).__name__})", "scripts/start-podman.sh")
    yield client
    client.close()


BUILD_LOG = "/tmp/lume-prefect-build-images.log"  # where scripts/ci-components.sh's background build writes


@pytest.fixture(scope="session")
def images(docker_client) -> dict[str, str]:
    """The names of the images of the current sources (tagged by their hashes), once any
    build running in the background has finished: LUME_IMAGE, LUME_POSTGRES_IMAGE, LUME_S3_IMAGE."""
    out = subprocess.run(["bash", str(ROOT / "scripts/build-images.sh"), "--wait"], capture_output=True, text=True, check=True, timeout=1800).stdout
    return dict(line.split("=", 1) for line in out.split())


@pytest.fixture(scope="session")
def lume_image(images) -> str:
    """The lume-prefect image (deployments/Dockerfile) of the current sources."""
    name = images["LUME_IMAGE"]
    if podman("image", "exists", name, check=False).returncode != 0:
        require(f"the image {name} (deployments/Dockerfile at the current sources; a background build logs to {BUILD_LOG})", "scripts/build-images.sh")
    return name


def create_pool(server, pool_type: str, template: str) -> str:
    """A work pool created from a committed template with the real CLI, as the README says."""
    name = f"lume-{pool_type}-{uuid.uuid4().hex[:6]}"
    subprocess.run(
        [venv_script("prefect"), "work-pool", "create", name, "--type", pool_type, "--base-job-template", str(ROOT / "deployments" / template)],
        env=server.env, check=True, capture_output=True, timeout=120,
    )
    return name


@contextmanager
def worker(server, pool: str, pool_type: str, home: Path, **env: str):
    """`prefect worker start` of ``pool_type`` polling ``pool`` every second; stopped on exit."""
    with prefect_worker(pool, server.env, home, pool_type, **env) as process:
        yield {"process": process, "log": home / "worker.log", "pool": pool}


@pytest.fixture(scope="module")
def docker_worker(real_api, docker_client, tmp_path_factory):  # noqa: F811 - real_api is the imported fixture
    """A docker pool from deployments/docker.json and its worker on podman's socket."""
    pool = create_pool(real_api, "docker", "docker.json")
    with worker(real_api, pool, "docker", tmp_path_factory.mktemp("docker-worker"), DOCKER_HOST=DOCKER_HOST) as started:
        yield started
    remove_flow_run_containers(docker_client, pool)


def container_removed(docker_client, flow_run_id, timeout: float = 60) -> bool:
    """Whether the container of a flow run has gone once the run ended (the pool's auto_remove):
    it ran (the run's infrastructure_pid names it) and no Exited container is left behind."""
    import docker
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        flow_run = client.read_flow_run(flow_run_id)
    assert flow_run.infrastructure_pid, f"flow run {flow_run_id} names no container"
    container_id = flow_run.infrastructure_pid.rsplit(":", 1)[1]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            docker_client.containers.get(container_id)
        except docker.errors.APIError as exc:  # podman answers 500 "no such container" where Docker says 404
            if isinstance(exc, docker.errors.NotFound) or "no such container" in str(exc).lower():
                return True
            raise
        time.sleep(1)
    return False


def remove_flow_run_containers(docker_client, pool: str) -> None:
    """Any flow-run container of ``pool`` left (a run the test cut short)."""
    for container in docker_client.containers.list(all=True, filters={"label": f"io.prefect.work-pool-name={pool}"}):
        container.remove(force=True)


def build_model_image(base: str, versions: dict[str, Path], tag: str) -> str:
    """A model image on the lume-prefect image: each version's directory copied to /opt/models/<version>."""
    context = next(iter(versions.values())).parent
    lines = [f"FROM {base}"] + [f"COPY --chown=lume:lume {path.name} /opt/models/{version}" for version, path in versions.items()]
    (context / "Containerfile").write_text("\n".join(lines) + "\n")
    podman("build", "--pull=never", "-q", "-f", str(context / "Containerfile"), "-t", tag, str(context))
    return tag
