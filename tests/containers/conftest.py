"""Containers for real: podman's Docker-compatible API, the lume-prefect image built by
scripts/build-images.sh, and a prefect-docker worker on the session's real Prefect server."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.components import ROOT, require, venv_script
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


@pytest.fixture(scope="session")
def lume_image(docker_client) -> str:
    """The lume-prefect image of the current sources (tagged by their hash), built beforehand."""
    name = subprocess.run(["bash", str(ROOT / "scripts/build-images.sh"), "--name"], capture_output=True, text=True, check=True).stdout.strip()
    if podman("image", "exists", name, check=False).returncode != 0:
        require(f"the image {name} (deployments/Dockerfile at the current sources)", "scripts/build-images.sh")
    return name


@pytest.fixture(scope="module")
def docker_pool(real_api):
    """A docker work pool created from deployments/docker.json with the real CLI, as the README says."""
    name = f"lume-docker-{uuid.uuid4().hex[:6]}"
    subprocess.run(
        [venv_script("prefect"), "work-pool", "create", name, "--type", "docker", "--base-job-template", str(ROOT / "deployments/docker.json")],
        env=real_api.env, check=True, capture_output=True, timeout=120,
    )
    return name


@pytest.fixture(scope="module")
def docker_worker(real_api, docker_pool, docker_client, tmp_path_factory):
    """`prefect worker start --type docker` on podman's socket, polling every second."""
    home = tmp_path_factory.mktemp("docker-worker")
    env = {
        **real_api.env, "DOCKER_HOST": DOCKER_HOST, "PREFECT_HOME": str(home),
        "PREFECT_WORKER_QUERY_SECONDS": "1", "PREFECT_WORKER_PREFETCH_SECONDS": "5",
    }
    log_path = home / "worker.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [venv_script("prefect"), "worker", "start", "--pool", docker_pool, "--type", "docker"],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    yield {"process": process, "log": log_path, "pool": docker_pool}
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
    remove_flow_run_containers(docker_client, docker_pool)


def remove_flow_run_containers(docker_client, pool: str) -> None:
    """The exited flow-run containers of ``pool`` (the templates keep them, for their logs)."""
    for container in docker_client.containers.list(all=True, filters={"label": f"io.prefect.work-pool-name={pool}"}):
        container.remove(force=True)


def build_model_image(base: str, versions: dict[str, Path], tag: str) -> str:
    """A model image on the lume-prefect image: each version's directory copied to /opt/models/<version>."""
    context = next(iter(versions.values())).parent
    lines = [f"FROM {base}"] + [f"COPY --chown=lume:lume {path.name} /opt/models/{version}" for version, path in versions.items()]
    (context / "Containerfile").write_text("\n".join(lines) + "\n")
    podman("build", "--pull=never", "-q", "-f", str(context / "Containerfile"), "-t", tag, str(context))
    return tag
