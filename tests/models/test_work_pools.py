"""The docker and kubernetes work-pool templates, the image and its entrypoint, tested by rendering.

No container engine runs here, so nothing is started in a container: real work pools are
created on a real `prefect server start` from deployments/*.json, toy-beam versions are
deployed to them, and the job configuration each worker would run for a real flow run is
built with the workers' own `resolve_for_flow_run` (template + values, then
`prepare_for_flow_run`) and validated: the Kubernetes Job against the Kubernetes client
models, the Docker container settings field by field. docker-entrypoint.sh runs under bash.
"""

from __future__ import annotations

import json
import os
import random
import shlex
import shutil
import subprocess
import types
import uuid
from pathlib import Path

import pytest

from lume_prefect.models.deploy import deploy_model
from tests.components import venv_script
from tests.models.conftest import ROOT, temp_services, write_version

DEPLOYMENTS = ROOT / "deployments"
ENTRYPOINT = DEPLOYMENTS / "docker-entrypoint.sh"
DEFAULT_IMAGE = "lume-prefect:latest"
ENTRY = "model.py:toy_beam"


# ---- work pools on a real server ---------------------------------------------------------


@pytest.fixture(scope="module")
def services(real_api, tmp_path_factory):
    """A saved LumeServices on temp SQLite; its name and registry URL (a secret)."""
    home = tmp_path_factory.mktemp("pool-services")
    name = f"pools-{uuid.uuid4().hex[:8]}"
    services = temp_services(home)
    services.save(name, _sync=True)
    url = services.registry.url.get_secret_value()
    return {"name": name, "secret": url}


@pytest.fixture(scope="module")
def pools(real_api, tmp_path_factory):
    """Work pools of type docker and kubernetes made from the templates, with the documented command."""
    env = {**real_api.env, "PREFECT_HOME": str(tmp_path_factory.mktemp("cli-home"))}
    names = {}
    for kind in ("docker", "kubernetes"):
        names[kind] = f"lume-{kind}-{uuid.uuid4().hex[:6]}"
        created = subprocess.run(
            [venv_script("prefect"), "work-pool", "create", names[kind], "--type", kind, "--base-job-template", str(DEPLOYMENTS / f"{kind}.json")],
            env=env, capture_output=True, text=True, timeout=240,
        )
        assert created.returncode == 0, created.stdout + created.stderr
    return names


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    major = random.randrange(10**6)  # versions no other test deploys
    home = tmp_path_factory.mktemp("pool-models")
    return {kind: write_version(home / kind, f"8.{major}.{i}") for i, kind in enumerate(("docker", "kubernetes"))}


async def job_configuration(configuration_class, deployment_id, pool_name, **run_options):
    """What the pool's worker would run for a new flow run of the deployment."""
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        flow_run = await client.create_flow_run_from_deployment(deployment_id, parameters={"sigma_x": 0.002}, **run_options)
        pool = await client.read_work_pool(pool_name)
        try:
            return flow_run, await configuration_class.resolve_for_flow_run(flow_run, client=client, work_pool=pool, worker_name="render-test")
        finally:
            await client.delete_flow_run(flow_run.id)


def assert_no_secret(configuration, secret: str) -> None:
    assert secret not in json.dumps(configuration.model_dump(mode="json"), default=str)


@pytest.mark.slow
async def test_docker_job_runs_the_image_with_the_services_of_the_deployment(pools, services, sources):
    from prefect_docker.worker import DockerWorkerJobConfiguration

    image = "registry.example.org/lume/toy-beam:8"
    deployed = deploy_model(ENTRY, str(sources["docker"]), services=services["name"], work_pool=pools["docker"], image=image)
    flow_run, config = await job_configuration(DockerWorkerJobConfiguration, deployed.deployment_id, pools["docker"])
    assert config.image == image
    assert config.command == "prefect flow-run execute"  # argv of the image's ENTRYPOINT
    assert config.env["LUME_SERVICES"] == services["name"]
    assert config.env["PREFECT__FLOW_RUN_ID"] == str(flow_run.id) and config.env["PREFECT__DEPLOYMENT_ID"] == deployed.deployment_id
    assert config.labels["io.prefect.work-pool-name"] == pools["docker"]
    assert_no_secret(config, services["secret"])

    # run_model passes LUME_SERVICES per run: the flow run's env wins over the deployment's
    _, config = await job_configuration(
        DockerWorkerJobConfiguration, deployed.deployment_id, pools["docker"], job_variables={"env": {"LUME_SERVICES": "other-env"}}
    )
    assert config.env["LUME_SERVICES"] == "other-env" and config.image == image


@pytest.mark.slow
async def test_docker_pool_defaults_give_the_lume_image_and_services(pools, real_api):
    from prefect.client.orchestration import get_client
    from prefect_docker.worker import DockerWorkerJobConfiguration

    async with get_client() as client:  # a deployment that sets no job variable at all
        flow_id = await client.create_flow_from_name("toy-beam")
        deployment_id = await client.create_deployment(
            flow_id=flow_id, name=f"bare-{uuid.uuid4().hex[:6]}", work_pool_name=pools["docker"], entrypoint="flows/toy_beam/model.py:toy_beam"
        )
    _, config = await job_configuration(DockerWorkerJobConfiguration, deployment_id, pools["docker"])
    assert config.image == DEFAULT_IMAGE
    assert config.env["LUME_SERVICES"] == "local"  # the pool's lume_services default
    assert config.command == "prefect flow-run execute"
    assert config.auto_remove is True  # no Exited flow-run container left behind (its logs are in Prefect)


@pytest.mark.slow
def test_redeploying_with_an_image_records_it_in_the_registry(pools, services, tmp_path):
    from lume_prefect.models.deploy import register_model_version
    from lume_prefect.services import LumeServices

    version = f"9.{random.randrange(10**6)}.0"
    source = write_version(tmp_path / "imaged", version)
    register_model_version(ENTRY, str(source), services=services["name"])  # registered first, without an image
    registry = LumeServices.load(services["name"], _sync=True).registry
    assert registry.get_version("toy-beam", version, _sync=True).image is None
    for image in ("registry.example.org/lume/toy-beam:9", "registry.example.org/lume/toy-beam:10"):
        deploy_model(ENTRY, str(source), services=services["name"], work_pool=pools["docker"], image=image)
        assert registry.get_version("toy-beam", version, _sync=True).image == image


@pytest.mark.slow
async def test_kubernetes_job_manifest_is_a_valid_job(pools, services, sources):
    from kubernetes_asyncio.client import ApiClient, V1Job
    from prefect_kubernetes.worker import KubernetesWorkerJobConfiguration

    deployed = deploy_model(ENTRY, str(sources["kubernetes"]), services=services["name"], work_pool=pools["kubernetes"])
    flow_run, config = await job_configuration(KubernetesWorkerJobConfiguration, deployed.deployment_id, pools["kubernetes"])
    manifest = config.job_manifest

    async with ApiClient() as api:
        job = api.deserialize(types.SimpleNamespace(data=json.dumps(manifest)), "V1Job")
        # Unknown keys are dropped by deserialize: a lossless round trip means Kubernetes knows every field.
        assert api.sanitize_for_serialization(job) == manifest
        misplaced = json.loads(json.dumps(manifest))
        misplaced["spec"]["template"]["spec"]["completions"] = 1  # where prefect-kubernetes' default has it
        assert api.sanitize_for_serialization(api.deserialize(types.SimpleNamespace(data=json.dumps(misplaced)), "V1Job")) != misplaced

    assert isinstance(job, V1Job) and job.kind == "Job" and job.api_version == "batch/v1"
    assert job.metadata.namespace == "default" and job.metadata.labels["prefect.io/flow-run-id"] == str(flow_run.id)
    assert job.spec.completions == 1 and job.spec.parallelism == 1 and job.spec.backoff_limit == 0
    pod = job.spec.template.spec
    assert pod.restart_policy == "Never"
    [container] = pod.containers
    assert container.image == DEFAULT_IMAGE and container.image_pull_policy == "IfNotPresent"
    assert container.command is None and container.args == ["prefect", "flow-run", "execute"]  # the image's ENTRYPOINT stays
    env = {e.name: e.value for e in container.env}
    assert env["LUME_SERVICES"] == services["name"] and env["PREFECT__FLOW_RUN_ID"] == str(flow_run.id)
    assert_no_secret(config, services["secret"])


# ---- the image ---------------------------------------------------------------------------


@pytest.mark.unit
def test_dockerfile_copies_what_exists_and_runs_the_entrypoint():
    lines = [line.strip() for line in (DEPLOYMENTS / "Dockerfile").read_text().splitlines() if line.strip() and not line.startswith("#")]
    assert lines[:2] == ["ARG BASE=python:3.11-slim", "FROM ${BASE}"]  # the public base unless told otherwise
    assert 'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]' in lines
    copies = [shlex.split(line)[1:] for line in lines if line.startswith("COPY ")]
    sent = (DEPLOYMENTS / "Dockerfile.dockerignore").read_text().splitlines()
    for args in copies:
        for source in [a for a in args if not a.startswith("--")][:-1]:
            assert (ROOT / source).exists(), f"COPY {source}: not in the project"
            assert f"!{source}" in sent, f"COPY {source}: excluded from the build context"
    assert ["--chmod=755", "deployments/docker-entrypoint.sh", "/usr/local/bin/docker-entrypoint.sh"] in copies
    assert os.access(ENTRYPOINT, os.X_OK)
    assert "/opt/lume-prefect" in (DEPLOYMENTS / "prefect.yaml").read_text()  # where the image keeps flows/


def entrypoint(*command: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("EXTRA_", "LUME_ENTRYPOINT"))}
    return subprocess.run(["bash", str(ENTRYPOINT), *command], env={**clean, **env}, capture_output=True, text=True, timeout=60)


def dry_run_commands(stdout: str) -> list[list[str]]:
    prefix = "lume-entrypoint: dry run: "
    return [shlex.split(line[len(prefix):]) for line in stdout.splitlines() if line.startswith(prefix)]


@pytest.mark.unit
def test_entrypoint_installs_each_requirement_as_one_argument_then_runs_the_command():
    done = entrypoint("printf", "<%s>", "a b", "c", EXTRA_PIP_PACKAGES="numpy>=1.26  lume-base[hdf5,plot]~=1.2\tgit+https://example.org/m.git@v1", LUME_ENTRYPOINT_DRY_RUN="1")
    assert done.returncode == 0, done.stderr
    assert dry_run_commands(done.stdout) == [[
        "python", "-m", "pip", "install", "--no-cache-dir", "--disable-pip-version-check", "--",
        "numpy>=1.26", "lume-base[hdf5,plot]~=1.2", "git+https://example.org/m.git@v1",
    ]]
    assert done.stdout.endswith("<a b><c>")  # exec "$@": the command's arguments arrive intact


@pytest.mark.unit
def test_entrypoint_without_extra_packages_only_runs_the_command(tmp_path):
    done = entrypoint("touch", str(tmp_path / "ran"), EXTRA_PIP_PACKAGES="", EXTRA_CONDA_PACKAGES="")
    assert done.returncode == 0 and done.stdout == "" and done.stderr == ""
    assert (tmp_path / "ran").exists()


@pytest.mark.unit
@pytest.mark.parametrize("variable", ["EXTRA_PIP_PACKAGES", "EXTRA_CONDA_PACKAGES"])
@pytest.mark.parametrize(
    "value",
    [
        "x; touch {pwned}",
        "x && touch {pwned}",
        "x | touch {pwned}",
        "$(touch {pwned})",
        "`touch {pwned}`",
        "x\ntouch {pwned}",
        "x'; touch {pwned}; '",
        "--index-url=http://127.0.0.1:9/simple x",
        "-r {pwned}",
        "x*",
    ],
)
def test_entrypoint_refuses_anything_but_requirements_and_runs_nothing(tmp_path, variable, value):
    pwned, ran = tmp_path / "pwned", tmp_path / "ran"
    done = entrypoint("touch", str(ran), **{variable: value.format(pwned=pwned), "LUME_ENTRYPOINT_DRY_RUN": "1"})
    assert done.returncode == 64
    assert f"lume-entrypoint: refusing {variable}" in done.stderr and "nothing was installed or run" in done.stderr
    assert dry_run_commands(done.stdout) == []  # no install
    assert not pwned.exists() and not ran.exists()  # no injected command, and not the command either


@pytest.mark.unit
def test_entrypoint_installs_conda_packages_only_where_conda_exists(tmp_path):
    bash_dir = str(Path(shutil.which("bash")).parent)
    no_conda = entrypoint("true", EXTRA_CONDA_PACKAGES="scipy hdf5", PATH=f"{bash_dir}:/usr/bin:/bin", LUME_ENTRYPOINT_DRY_RUN="1")
    assert shutil.which("conda", path=f"{bash_dir}:/usr/bin:/bin") is None
    assert no_conda.returncode == 0 and dry_run_commands(no_conda.stdout) == []
    assert "EXTRA_CONDA_PACKAGES is set but this image has no conda; not installed: scipy hdf5" in no_conda.stderr

    bin_dir = tmp_path / "bin"  # a conda on PATH; never executed in a dry run
    bin_dir.mkdir()
    (bin_dir / "conda").write_text("#!/bin/sh\nexit 99\n")
    (bin_dir / "conda").chmod(0o755)
    with_conda = entrypoint("true", EXTRA_CONDA_PACKAGES="scipy hdf5", PATH=f"{bin_dir}:{bash_dir}:/usr/bin:/bin", LUME_ENTRYPOINT_DRY_RUN="1")
    assert with_conda.returncode == 0, with_conda.stderr
    assert dry_run_commands(with_conda.stdout) == [["conda", "install", "--yes", "--quiet", "--", "scipy", "hdf5"]]
