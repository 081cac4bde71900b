"""Profiles as code: blocks/*.yaml read, validated and applied to the session's Prefect API."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from lume_prefect.profiles import ProfileError, apply_profile, build_blocks, read_profile

ROOT = Path(__file__).resolve().parents[1]
BLOCKS = ROOT / "blocks"
SECRET = "s3cr3t-Pa55word"
PROD_ENV = {
    "LUME_REGISTRY_URL": f"postgresql+psycopg://lume:{SECRET}@db.example.org:5432/lume",
    "LUME_RESULTS_URL": f"postgresql+psycopg://lume:{SECRET}@db.example.org:5432/lume",
    "LUME_S3_BUCKET": "lume-prod",
    "LUME_S3_ACCESS_KEY_ID": "AKIAEXAMPLE",
    "LUME_S3_SECRET_ACCESS_KEY": SECRET,
    "LUME_SLURM_HOST": "login.example.org",
    "LUME_SLURM_USER": "lume",
    "LUME_SLURM_PRIVATE_KEY": f"-----BEGIN OPENSSH PRIVATE KEY-----\n{SECRET}\n-----END OPENSSH PRIVATE KEY-----\n",
    "MLFLOW_TRACKING_URI": "https://mlflow.example.org",
    "LUME_MLFLOW_USERNAME": "lume",
    "LUME_MLFLOW_PASSWORD": SECRET,
}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / f"profile-{uuid.uuid4().hex[:6]}.yaml"
    path.write_text(text)
    return path


def unique() -> str:
    return f"p{uuid.uuid4().hex[:8]}"


def saved(block_class, name: str) -> bool:
    try:
        block_class.load(name, _sync=True)
        return True
    except ValueError:
        return False


# ---- the file format (no Prefect API) ---------------------------------------------


@pytest.mark.unit
@pytest.mark.parametrize("profile", ["local", "dev", "prod", "mlflow"])
def test_shipped_profiles_are_valid(profile):
    built = build_blocks(read_profile(BLOCKS / f"{profile}.yaml"), {**PROD_ENV, "LUME_PREFECT_HOME": "/tmp/lume"})
    services = built[profile]
    assert services.registry is built[f"{profile}-registry"] and services.results is built[f"{profile}-results"]
    assert list(read_profile(BLOCKS / f"{profile}.yaml").blocks)[-1] == profile  # referenced blocks saved first


@pytest.mark.unit
def test_variables_defaults_and_escapes(tmp_path):
    path = write(tmp_path, """
blocks:
  files:
    type: lume-local-files
    fields:
      basepath: ${ROOT:-/srv/default}/$${literal}/${SUB}
""")
    [files] = build_blocks(read_profile(path), {"SUB": "runs"}).values()
    assert files.basepath == "/srv/default/${literal}/runs"
    [files] = build_blocks(read_profile(path), {"SUB": "runs", "ROOT": "/data"}).values()
    assert files.basepath == "/data/${literal}/runs"


@pytest.mark.unit
@pytest.mark.parametrize(
    ("blocks", "message"),
    [
        ("  a: {type: lume-local-files, fields: {basepath: '${1BAD}'}}", "block 'a', field 'basepath': '${1BAD}' is not a variable reference"),
        ("  a: {type: lume-local-files, fields: {basepath: '/x/${OPEN'}}", "block 'a', field 'basepath': '${' is not a variable reference"),
        ("  a: {type: lume-nonsense, fields: {}}", "block 'a': unknown block type 'lume-nonsense' (lume-prefect's: lume-local-files"),
        ("  a: {type: lume-local-files, fields: {basepth: /x}}", "block 'a': lume-local-files has no field 'basepth'"),
        ("  a: {type: lume-services, fields: {registry: nowhere}}", "block 'a', field 'registry': no block named 'nowhere' in this file"),
        ("  a: {type: lume-local-files, fields: {basepath: /x}}\n  a: {type: lume-local-files}", "key 'a' appears twice"),
        ("  a: {type: lume-model-registry, fields: {url: 'postgresql://u:hunter2@h/db'}}", "block 'a', field 'url' is secret: take it from the environment"),
    ],
)
def test_bad_profiles_are_refused_naming_file_block_and_field(tmp_path, blocks, message):
    path = write(tmp_path, f"blocks:\n{blocks}\n")
    with pytest.raises(ProfileError) as info:
        build_blocks(read_profile(path), {})
    assert f"{path}: " in str(info.value) and message in str(info.value)
    assert "hunter2" not in str(info.value)


@pytest.mark.unit
def test_reference_cycle_is_refused(tmp_path):
    path = write(tmp_path, """
blocks:
  a: {type: lume-services, fields: {registry: b}}
  b: {type: lume-services, fields: {registry: a}}
""")
    with pytest.raises(ProfileError, match="in a cycle: a -> b -> a"):
        read_profile(path)


# ---- applying to the Prefect API --------------------------------------------------


@pytest.fixture
def local_profile(tmp_path, monkeypatch):
    """blocks/local.yaml's environment in tmp_path; its documents deleted afterwards (the API is shared)."""
    from prefect.client.orchestration import get_client

    monkeypatch.setenv("LUME_PREFECT_HOME", str(tmp_path / "home"))
    yield BLOCKS / "local.yaml"
    with get_client(sync_client=True) as client:
        for name, entry in read_profile(BLOCKS / "local.yaml").blocks.items():
            try:
                document = client.read_block_document_by_name(name, entry.block_class.get_block_type_slug())
                client.delete_block_document(document.id)
            except Exception:  # noqa: BLE001 (not saved: nothing to clean)
                pass


@pytest.mark.prefect
def test_local_profile_applies_and_its_services_work(local_profile, tmp_path):
    from lume_prefect.registry import ModelRegistry
    from lume_prefect.results import Result
    from lume_prefect.services import LumeServices, local_services

    local_services().save("local", overwrite=True, _sync=True)  # as load_services() creates it on first use
    applied = apply_profile(local_profile)
    assert [(a.name, a.slug, a.saved) for a in applied] == [
        ("local-files", "lume-local-files", True),
        ("local-registry", "lume-model-registry", True),
        ("local-results", "lume-sql-results", True),
        ("local", "lume-services", True),
    ]
    assert apply_profile(local_profile)  # applying again overwrites: idempotent

    services = LumeServices.load("local", _sync=True)
    home = tmp_path / "home"
    assert services.registry.url.get_secret_value() == f"sqlite:///{home}/registry.db"
    services.registry.register_model("beam", author="a", laboratory="l", facility="f", beampath="b", _sync=True)
    services.registry.register_version("beam", "1.0.0", source="beam==1.0.0", entrypoint="beam:flow", _sync=True)
    services.registry.promote("beam", "1.0.0", _sync=True)
    assert services.registry.live_version("beam", _sync=True).version == "1.0.0"
    key = services.results.insert(Result(model="beam", version="1.0.0", inputs={"x": 1}, outputs={"y": 2}), _sync=True)
    assert services.results.get(key, _sync=True).outputs == {"y": 2}
    services.files.write("notes.txt", "hello")
    assert (home / "files" / "notes.txt").read_text() == "hello"
    assert (home / "registry.db").exists() and (home / "results.db").exists()

    # The services document refers to the registry document: editing one changes the other.
    ModelRegistry(url=f"sqlite:///{tmp_path / 'other.db'}").save("local-registry", overwrite=True, _sync=True)
    assert LumeServices.load("local", _sync=True).registry.url.get_secret_value().endswith("other.db")


@pytest.mark.prefect
def test_a_bad_field_fails_naming_it_and_saves_nothing(tmp_path):
    from lume_prefect.registry import ModelRegistry
    from lume_prefect.results import SQLResults
    from lume_prefect.services import LumeServices

    registry, results, services = unique(), unique(), unique()
    path = write(tmp_path, f"""
blocks:
  {registry}:
    type: lume-model-registry
    fields: {{url: "sqlite:///${{HOME_DIR}}/registry.db"}}
  {results}:
    type: lume-sql-results
    fields: {{url: "sqlite:///${{HOME_DIR}}/results.db"}}
  {services}:
    type: lume-services
    fields: {{files: {registry}, registry: {registry}, results: {results}, run_mode: sideways}}
""")
    with pytest.raises(ProfileError) as info:
        apply_profile(path, environ={"HOME_DIR": str(tmp_path)})
    message = str(info.value)
    assert (f"{path}: block {services!r}, field 'files': {registry!r} is a lume-model-registry, "
            "expected lume-local-files, lume-mounted-files, lume-s3-files") in message
    assert f"{path}: block {services!r}, field 'run_mode' (lume-services): Input should be 'in-process' or 'remote'" in message
    assert not saved(ModelRegistry, registry) and not saved(SQLResults, results) and not saved(LumeServices, services)


@pytest.mark.prefect
def test_a_missing_variable_fails_naming_it_and_saves_nothing(tmp_path):
    from lume_prefect.files import LocalFiles
    from lume_prefect.registry import ModelRegistry

    files, registry = unique(), unique()
    path = write(tmp_path, f"""
blocks:
  {files}: {{type: lume-local-files, fields: {{basepath: {tmp_path}}}}}
  {registry}: {{type: lume-model-registry, fields: {{url: "${{LUME_TEST_UNSET_URL}}"}}}}
""")
    with pytest.raises(ProfileError, match=f"block '{registry}', field 'url': environment variable LUME_TEST_UNSET_URL is not set"):
        apply_profile(path, environ={})
    assert not saved(LocalFiles, files) and not saved(ModelRegistry, registry)


# ---- the command line, as a user runs it -------------------------------------------


@pytest.fixture
def lume(tmp_path):
    from prefect.settings import PREFECT_API_URL

    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value(), "PREFECT_LOGGING_LEVEL": "WARNING", **PROD_ENV}
    env.pop("PREFECT_TEST_MODE", None)  # test mode turns on debug logging in the child

    def call(*args: str, **extra: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "lume_prefect.cli", "profiles", *args], capture_output=True,
                              text=True, env={**env, **extra}, timeout=180)

    return call


@pytest.mark.prefect
def test_show_and_apply_never_print_secrets(lume, tmp_path):
    from lume_prefect.services import LumeServices
    from lume_prefect.slurm import SlurmCluster

    name = unique()
    path = tmp_path / "prod.yaml"
    path.write_text((BLOCKS / "prod.yaml").read_text().replace("prod", name))
    outputs = []

    shown = lume("show", str(path))
    assert shown.returncode == 0, shown.stderr
    assert "**********" in shown.stdout and "LUME_SLURM_PRIVATE_KEY" in shown.stdout and "login.example.org" in shown.stdout
    dry = lume("apply", str(path), "--dry-run")
    assert dry.returncode == 0 and "5 block documents would be saved (dry run)" in dry.stdout, dry.stderr
    assert not saved(LumeServices, name)
    done = lume("apply", str(path))
    assert done.returncode == 0, done.stderr
    assert f"saved: lume-services/{name}" in done.stdout and "5 block documents saved" in done.stdout
    refused = lume("apply", str(path), LUME_SLURM_HOST="", LUME_REGISTRY_URL="not a url")
    assert refused.returncode == 1
    assert f"block '{name}-slurm', field 'host': environment variable LUME_SLURM_HOST is empty" in refused.stderr
    assert f"block '{name}-registry', field 'url' (lume-model-registry): Value error, url is not a SQLAlchemy database URL" in refused.stderr
    outputs += [shown, dry, done, refused]
    for result in outputs:
        assert SECRET not in result.stdout + result.stderr and "AKIAEXAMPLE" not in result.stdout + result.stderr

    services = LumeServices.load(name, _sync=True)  # the secrets were saved, only never printed
    assert services.registry.url.get_secret_value() == PROD_ENV["LUME_REGISTRY_URL"]
    assert isinstance(services.slurm, SlurmCluster) and SECRET in services.slurm.private_key.get_secret_value()
    assert services.files.aws_secret_access_key.get_secret_value() == SECRET
