"""`prefect --no-prompt deploy --all` with deployments/prefect.yaml on a real `prefect server start`:
the lume build step registers the version, Prefect creates toy-beam/<version>; the same
source again changes nothing; a changed source is refused before anything is deployed."""

from __future__ import annotations

import random
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from lume_prefect.models.deploy import source_sha256
from tests.components import venv_script
from tests.models.conftest import ROOT, temp_services, write_version

pytestmark = pytest.mark.slow
POOL = "lume-process"  # the pool deployments/prefect.yaml names
INPUTS = {"sigma_x": "number", "sigma_px": "number", "drift_m": "number", "n_particles": "integer", "save_particles": "boolean"}


def cli(args: list[str], env: dict, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([venv_script("prefect"), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=240)


@pytest.fixture(scope="module")
def env(real_api, tmp_path_factory):
    """Environment of the CLI: the real server, and LUME_SERVICES naming a saved block on temp SQLite."""
    name = f"yaml-{uuid.uuid4().hex[:8]}"
    temp_services(tmp_path_factory.mktemp("yaml-services")).save(name, _sync=True)
    return {**real_api.env, "PREFECT_HOME": str(tmp_path_factory.mktemp("cli-home")), "LUME_SERVICES": name}


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A checkout: deployments/prefect.yaml and the toy-beam model, at a version no other test uses."""
    root = tmp_path_factory.mktemp("project")
    (root / "deployments").mkdir()
    shutil.copy(ROOT / "deployments" / "prefect.yaml", root / "deployments" / "prefect.yaml")
    version = f"7.{random.randrange(10**6)}.0"
    write_version(root / "flows" / "toy_beam", version)
    return {"root": root, "version": version, "source": root / "flows" / "toy_beam"}


def prefect_deploy(root: Path, env: dict) -> subprocess.CompletedProcess:
    """The documented command, run from the project root."""
    return cli(["--no-prompt", "deploy", "--all", "--prefect-file", "deployments/prefect.yaml"], env, root)


@pytest.fixture(scope="module")
def deployed(env, project):
    created = cli(["work-pool", "create", POOL, "--type", "process", "--base-job-template", str(ROOT / "deployments" / "process.json"), "--overwrite"], env, project["root"])
    assert created.returncode == 0, created.stdout + created.stderr
    done = prefect_deploy(project["root"], env)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def registry(env):
    from lume_prefect.services import LumeServices

    return LumeServices.load(env["LUME_SERVICES"], _sync=True).registry


def read_deployment(name: str):
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return client.read_deployment_by_name(name)


def test_prefect_deploy_registers_the_version_then_creates_its_deployment(deployed, env, project):
    version = project["version"]
    assert "Running register_model_version step" in deployed.stdout
    assert f"Deployment 'toy-beam/{version}' successfully created" in deployed.stdout

    deployment = read_deployment(f"toy-beam/{version}")
    assert deployment.name == version and deployment.version == version
    assert {"lume-prefect", "model:toy-beam"} <= set(deployment.tags)
    assert deployment.work_pool_name == POOL and not deployment.paused  # the reserved placeholder was replaced
    assert deployment.entrypoint == "flows/toy_beam/model.py:toy_beam"
    assert deployment.job_variables == {"env": {"LUME_SERVICES": env["LUME_SERVICES"]}}
    properties = deployment.parameter_openapi_schema["properties"]
    assert {k: v["type"] for k, v in properties.items()} == INPUTS  # the inputs only: no lume_scan_batch in the run form
    # the spec's defaults, ranges, units and descriptions, from the signature ModelSpec.flow gives the flow
    assert {k: properties["sigma_x"][k] for k in ("default", "minimum", "maximum", "x-units", "description")} == {
        "default": 1e-3, "minimum": 1e-6, "maximum": 0.1, "x-units": "m", "description": "Initial rms size. Units: m. Range: 1e-06 to 0.1 m.",
    }
    assert (properties["drift_m"]["default"], properties["drift_m"]["minimum"], properties["drift_m"]["maximum"]) == (2.0, 0.0, 100.0)
    assert (properties["n_particles"]["default"], properties["n_particles"]["minimum"], properties["n_particles"]["maximum"]) == (10_000, 10, 10_000_000)
    assert properties["save_particles"]["default"] is False and properties["sigma_px"]["x-units"] == "rad"
    assert not deployment.parameter_openapi_schema.get("required")
    spec_schema = registry(env).get_version("toy-beam", version, _sync=True).parameters_schema
    for name, declared in spec_schema["properties"].items():  # all that the spec declares, as lume-prefect deploy gives it
        assert declared.items() <= properties[name].items()
    [schedule] = deployment.schedules
    assert schedule.schedule.cron == "0 6 * * 1" and schedule.active is False
    assert deployment.pull_steps == [{"prefect.deployments.steps.set_working_directory": {"directory": str(project["root"].resolve())}}]

    registered = registry(env).get_version("toy-beam", version, _sync=True)
    assert registered.source == str(project["source"].resolve()) and registered.entrypoint == "model.py:toy_beam"
    assert registered.sha256 == source_sha256(str(project["source"])) and len(registered.sha256) == 64
    assert registered.image is None
    assert registered.parameters_schema["properties"]["drift_m"]["maximum"] == 100.0  # the spec's full schema
    assert registered.deployment_name == f"toy-beam/{version}" and registered.deployment_id == str(deployment.id)


async def test_the_process_pool_template_gives_the_run_its_services(deployed, env, project):
    from prefect.client.orchestration import get_client
    from prefect.workers.process import ProcessJobConfiguration

    async with get_client() as client:
        deployment = await client.read_deployment_by_name(f"toy-beam/{project['version']}")
        flow_run = await client.create_flow_run_from_deployment(deployment.id, parameters={"sigma_x": 0.002})
        pool = await client.read_work_pool(POOL)
        config = await ProcessJobConfiguration.resolve_for_flow_run(flow_run, client=client, work_pool=pool, worker_name="render-test")
        await client.delete_flow_run(flow_run.id)
    assert config.env["LUME_SERVICES"] == env["LUME_SERVICES"] and config.env["PREFECT__FLOW_RUN_ID"] == str(flow_run.id)
    assert config.command.endswith(" -m prefect.engine")  # the process worker runs the flow with its own Python


def test_redeploying_the_same_source_changes_nothing_in_the_registry(deployed, env, project):
    version = project["version"]
    def versions():  # deployed_at is the time of the last deploy: it moves
        return [v.model_dump(exclude={"deployed_at"}) for v in registry(env).list_versions("toy-beam", _sync=True)]

    before = versions()
    first_id = read_deployment(f"toy-beam/{version}").id
    again = prefect_deploy(project["root"], env)
    assert again.returncode == 0, again.stdout + again.stderr
    assert versions() == before
    assert read_deployment(f"toy-beam/{version}").id == first_id


def test_a_changed_source_is_refused_before_anything_is_deployed(deployed, env, project, tmp_path):
    version = project["version"]
    before = registry(env).list_versions("toy-beam", _sync=True)
    deployment = read_deployment(f"toy-beam/{version}")

    other = tmp_path / "other-checkout"  # same version, other code, other place
    shutil.copytree(project["root"], other)
    write_version(other / "flows" / "toy_beam", version, seed=99)
    model = project["source"] / "model.py"  # same version, same place, edited code
    edited = model.read_text().replace("default_rng(7)", "default_rng(8)")
    assert edited != model.read_text()
    model.write_text(edited)

    for root in (other, project["root"]):
        refused = prefect_deploy(root, env)
        output = refused.stdout + refused.stderr
        assert refused.returncode != 0, output
        assert "SourceConflict" in output
        assert f"model 'toy-beam' version '{version}' is already registered with source" in output and "refusing to re-deploy" in output
        assert "successfully created" not in output

    assert registry(env).list_versions("toy-beam", _sync=True) == before
    after = read_deployment(f"toy-beam/{version}")
    assert after.id == deployment.id and after.updated == deployment.updated and after.work_pool_name == POOL


def test_another_environment_is_refused_until_its_step_names_its_own_deployment(deployed, env, project, tmp_path):
    """staging (its own services) runs the same `prefect deploy` on the same server: refused
    before anything is deployed, naming both services; with deployment_name in the lume step
    (and the deployment named {{ lume.deployment }}, as the shipped prefect.yaml does) it gets its own."""
    from lume_prefect.services import LumeServices

    version = project["version"]
    prod = read_deployment(f"toy-beam/{version}")
    staging = {**env, "LUME_SERVICES": f"staging-{uuid.uuid4().hex[:8]}"}
    temp_services(tmp_path / "staging").save(staging["LUME_SERVICES"], _sync=True)

    refused = prefect_deploy(project["root"], staging)
    output = refused.stdout + refused.stderr
    assert refused.returncode != 0 and "DeploymentOfOtherServices" in output, output
    assert f"deployment 'toy-beam/{version}' belongs to services {env['LUME_SERVICES']!r}" in output
    assert f"services {staging['LUME_SERVICES']!r}" in output and "successfully created" not in output
    after = read_deployment(f"toy-beam/{version}")
    assert after.updated == prod.updated and after.job_variables["env"]["LUME_SERVICES"] == env["LUME_SERVICES"]
    assert registry(staging).list_models(_sync=True) == []

    yaml_file = project["root"] / "deployments" / "prefect.yaml"
    shipped = yaml_file.read_text()
    try:
        yaml_file.write_text(shipped.replace('          # deployment_name: "1.0.0-staging"', f'          deployment_name: "{version}-staging"'))
        done = prefect_deploy(project["root"], staging)
    finally:
        yaml_file.write_text(shipped)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"Deployment 'toy-beam/{version}-staging' successfully created" in done.stdout
    theirs = read_deployment(f"toy-beam/{version}-staging")
    assert theirs.job_variables["env"]["LUME_SERVICES"] == staging["LUME_SERVICES"] and not theirs.paused
    recorded = LumeServices.load(staging["LUME_SERVICES"], _sync=True).registry.get_version("toy-beam", version, _sync=True)
    assert (recorded.deployment_name, recorded.deployment_id) == (f"toy-beam/{version}-staging", str(theirs.id))
    assert read_deployment(f"toy-beam/{version}").job_variables["env"]["LUME_SERVICES"] == env["LUME_SERVICES"]


def test_an_old_prefect_yaml_naming_the_deployment_by_version_is_checked_too(deployed, env, project, tmp_path):
    """A prefect.yaml written before the step returned ``deployment`` names the deployment
    ``{{ lume.version }}``: Prefect writes ``toy-beam/<version>`` whatever the step names, so the
    step checks that one. Staging's deploy with it is refused before anything is written, with
    the step's deployment_name (a clear error) or a name its registry recorded (the owner check);
    the owner's own deploy still works, with a deprecation warning."""
    version = project["version"]
    prod = read_deployment(f"toy-beam/{version}")
    staging = {**env, "LUME_SERVICES": f"old-staging-{uuid.uuid4().hex[:8]}"}
    temp_services(tmp_path / "staging").save(staging["LUME_SERVICES"], _sync=True)
    yaml_file = project["root"] / "deployments" / "prefect.yaml"
    shipped = yaml_file.read_text()
    old = shipped.replace('  - name: "{{ lume.deployment }}"', '  - name: "{{ lume.version }}"')
    named = '          deployment_name: "{version}-old-staging"'.format(version=version)  # not the name of the test above
    assert old != shipped
    try:
        yaml_file.write_text(old.replace('          # deployment_name: "1.0.0-staging"', named))
        refused = prefect_deploy(project["root"], staging)
        output = " ".join((refused.stdout + refused.stderr).split())  # rich wraps long lines
        assert refused.returncode != 0 and "successfully created" not in output, output
        assert f"deployment_name '{version}-old-staging' is given to the lume step, but prefect.yaml names the deployment '{{{{ lume.version }}}}'" in output
        assert "name it '{{ lume.deployment }}'" in output
        assert registry(staging).list_models(_sync=True) == []  # nothing registered

        # staging's own deployment, from the current yaml: its registry records toy-beam/<version>-staging
        yaml_file.write_text(shipped.replace('          # deployment_name: "1.0.0-staging"', named))
        done = prefect_deploy(project["root"], staging)
        assert done.returncode == 0, done.stdout + done.stderr
        assert registry(staging).get_version("toy-beam", version, _sync=True).deployment_name == f"toy-beam/{version}-old-staging"
        # the old yaml without deployment_name: the recorded name is not the one Prefect writes
        yaml_file.write_text(old)
        refused = prefect_deploy(project["root"], staging)
        output = " ".join((refused.stdout + refused.stderr).split())  # rich wraps long lines
        assert refused.returncode != 0 and "DeploymentOfOtherServices" in output and "successfully created" not in output, output
        assert f"deployment 'toy-beam/{version}' belongs to services {env['LUME_SERVICES']!r}" in output
        after = read_deployment(f"toy-beam/{version}")
        assert after.updated == prod.updated and after.job_variables["env"]["LUME_SERVICES"] == env["LUME_SERVICES"]
        assert registry(staging).get_version("toy-beam", version, _sync=True).deployment_name == f"toy-beam/{version}-old-staging"

        write_version(project["source"], version)  # the registered code (a test above edits it)
        kept = prefect_deploy(project["root"], env)  # the old yaml of the deployment's own services: deployed, warned
    finally:
        yaml_file.write_text(shipped)
    assert kept.returncode == 0, kept.stdout + kept.stderr
    assert f"Deployment 'toy-beam/{version}' successfully created" in kept.stdout
    assert "prefect.yaml names the deployment of flows/toy_beam/model.py:toy_beam '{{ lume.version }}': name it '{{ lume.deployment }}'" in " ".join(kept.stdout.split())  # rich wraps long lines
    assert read_deployment(f"toy-beam/{version}").id == prod.id
    assert registry(env).get_version("toy-beam", version, _sync=True).deployment_name == f"toy-beam/{version}"
