"""The registry in Prefect: the block saved and loaded by name, tasks in flows, the CLI."""

from __future__ import annotations

import getpass
import json
import os
import subprocess
import uuid

import pytest
import sqlalchemy as sa
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.settings import PREFECT_API_URL
from prefect.testing.standard_test_suites import BlockStandardTestSuite

from lume_prefect.cli import app
from lume_prefect.registry import (
    MLflowRegistry,
    ModelRegistry,
    ModelVersion,
    NoLiveVersion,
    get_live_version,
    migrate,
    promote_version,
    register_version,
    resolve_registry,
)
from lume_prefect.core.sql import create_engine
from tests.components import venv_script
from tests.databases import fresh_database

pytestmark = pytest.mark.prefect
PASSWORD = "pw-that-must-never-show"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


class TestBlockStandards(BlockStandardTestSuite):
    @pytest.fixture(params=[ModelRegistry, MLflowRegistry])
    def block(self, request):
        return request.param

    def test_has_a_valid_image(self, block):
        assert str(block._logo_url).startswith("https://")  # offline: no download of the logo


def test_default_url_is_a_sqlite_file_in_lume_prefect_home(tmp_path, monkeypatch):
    monkeypatch.setenv("LUME_PREFECT_HOME", str(tmp_path / "home"))
    block = ModelRegistry()
    assert block.url.get_secret_value() == f"sqlite:///{tmp_path / 'home' / 'registry.db'}"
    assert block.list_models() == []
    assert (tmp_path / "home" / "registry.db").is_file()


def test_bad_url_is_refused_without_echoing_it():
    with pytest.raises(ValueError, match="url is not a SQLAlchemy database URL") as caught:
        ModelRegistry(url=f"not a url {PASSWORD}")
    assert PASSWORD not in str(caught.value)


@pytest.fixture(params=["sql", "mlflow"])
def saved_registry(request, tmp_path):
    """A registry block saved through the Prefect API: a ModelRegistry on a fresh SQLite file,
    or an MLflowRegistry on the session's (emptied) MLflow server; its name."""
    name = unique("registry")
    if request.param == "mlflow":
        from tests.registry.conftest import _wipe_mlflow

        url = request.getfixturevalue("mlflow_server").url
        _wipe_mlflow(url)
        MLflowRegistry(tracking_uri=url).save(name)
    else:
        ModelRegistry(url=f"sqlite:///{tmp_path / 'registry.db'}").save(name)
    return name


def test_tasks_in_a_sync_flow_with_the_block_name(saved_registry):
    resolve_registry(saved_registry).register_model("injector", author="a", laboratory="SLAC", facility="LCLS", beampath="hxr")

    @flow
    def release(registry: str) -> ModelVersion:
        register_version(registry, "injector", "1.0", source="injector==1.0", entrypoint="injector.flow:run")
        register_version(registry, "injector", "1.10", source="injector==1.10", entrypoint="injector.flow:run")
        promote_version(registry, "injector", "1.10")
        return get_live_version(registry, "injector")

    live = release(saved_registry)
    assert isinstance(live, ModelVersion) and live.version == "1.10"
    history = resolve_registry(saved_registry).history("injector")
    # changes made by tasks say who ran them and from which flow run
    assert history[0].changed_by.startswith(f"{getpass.getuser()} via flow run ")
    assert live.registered_by.startswith(f"{getpass.getuser()} via flow run ")


def test_task_failures_carry_the_registry_error(saved_registry):
    resolve_registry(saved_registry).register_model("injector", author="a", laboratory="SLAC", facility="LCLS", beampath="hxr")

    @flow
    def needs_live(registry: str) -> ModelVersion:
        return get_live_version(registry, "injector")

    with pytest.raises(NoLiveVersion, match="'injector' has no live version"):
        needs_live(saved_registry)


async def test_block_methods_are_awaitable_in_an_async_flow(saved_registry):
    @flow
    async def async_release() -> tuple[str, str]:
        registry = resolve_registry(saved_registry)
        await registry.register_model("injector", author="a", laboratory="SLAC", facility="LCLS", beampath="hxr")
        await registry.register_version("injector", "2.0", source="s", entrypoint="m:f")
        change = await registry.promote("injector", "2.0")
        live = await registry.alive_version("injector")
        return change.to_version, live.version

    assert await async_release() == ("2.0", "2.0")


async def test_secret_url_is_masked_in_the_saved_block_document():
    with fresh_database("postgresql") as url:
        secret_url = sa.make_url(url).set(password=PASSWORD).render_as_string(hide_password=False)  # trust auth ignores it
        name = unique("pg-registry")
        block = ModelRegistry(url=secret_url)
        await block.save(name)
        async with get_client() as client:
            document = await client.read_block_document_by_name(name, ModelRegistry.get_block_type_slug(), include_secrets=False)
        assert PASSWORD not in json.dumps(document.data, default=str)
        loaded = await ModelRegistry.load(name)
        assert PASSWORD not in repr(loaded) and PASSWORD not in loaded.registry().label
        assert await loaded.alist_models() == []
        loaded.registry().engine.dispose()


# ---- the CLI, against saved blocks through the Prefect API ------------------------------


def cli_process(*args: str, **env: str) -> subprocess.CompletedProcess:
    """``lume-prefect ARGS`` in its own process, as a user runs it, on the session's Prefect API."""
    return subprocess.run(
        [venv_script("lume-prefect"), *args], capture_output=True, text=True, timeout=120,
        env={**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value(), "COLUMNS": "200", **env},
    )


def cli(capsys, *args: str) -> str:
    """``lume-prefect ARGS`` in this process (fast); returns stdout; exits are raised as SystemExit."""
    capsys.readouterr()
    app(list(args), result_action="return_value", exit_on_error=False)
    return capsys.readouterr().out


def test_models_cli_end_to_end(saved_registry, capsys, tmp_path):
    reg = ["--registry", saved_registry]
    schema = tmp_path / "schema.json"
    schema.write_text(json.dumps({"type": "object", "properties": {"charge": {"type": "number"}}}))
    assert cli(capsys, "models", "register", "injector", "--author", "Jane", "--laboratory", "SLAC", "--facility", "LCLS",
               "--beampath", "cu_hxr", "--tag", "kind=surrogate", *reg).strip() == "registered model injector"
    assert "registered injector 1.0" in cli(capsys, "models", "register", "injector", "1.0", "--source", "injector==1.0",
                                             "--entrypoint", "injector.flow:run", "--parameters-schema", str(schema), *reg)
    made = json.loads(cli(capsys, "models", "register", "injector", "1.10", "--source", "s", "--entrypoint", "m:f",
                          "--image", "lume/injector:1.10", "--json", *reg))
    assert (made["version"], made["image"]) == ("1.10", "lume/injector:1.10")
    assert cli(capsys, "models", "promote", "injector", "1.0", *reg).strip() == "injector live: (none) -> 1.0"
    assert cli(capsys, "models", "promote", "injector", "1.10", *reg).strip() == "injector live: 1.0 -> 1.10"
    reverted = json.loads(cli(capsys, "models", "revert", "injector", "--json", *reg))
    assert (reverted["from_version"], reverted["to_version"]) == ("1.10", "1.0")

    listed = json.loads(cli(capsys, "models", "list", "--tag", "kind=surrogate", "--json", *reg))
    assert [(m["name"], m["aliases"]) for m in listed] == [("injector", {"live": "1.0"})]
    assert json.loads(cli(capsys, "models", "list", "--facility", "FACET", "--json", *reg)) == []
    shown = json.loads(cli(capsys, "models", "show", "injector", "--json", *reg))
    assert (shown["latest_version"], shown["version_count"], shown["tags"]) == ("1.10", 2, {"kind": "surrogate"})
    versions = json.loads(cli(capsys, "models", "versions", "injector", "--json", *reg))
    assert [v["version"] for v in versions] == ["1.10", "1.0"]
    assert versions[1]["parameters_schema"]["properties"] == {"charge": {"type": "number"}}
    history = json.loads(cli(capsys, "models", "history", "injector", "--json", *reg))
    assert [(h["from_version"], h["to_version"]) for h in history] == [(None, "1.0"), ("1.0", "1.10"), ("1.10", "1.0")]

    table = cli(capsys, "models", "history", "injector", *reg)
    assert "revert" in table and "alias history of injector" in table
    assert "injector" in cli(capsys, "models", "list", *reg) and "latest" in cli(capsys, "models", "show", "injector", *reg)


def test_models_cli_errors_are_one_clear_line(saved_registry, capsys):
    reg = ["--registry", saved_registry]
    with pytest.raises(SystemExit) as exited:
        cli(capsys, "models", "promote", "nope", "1.0", *reg)
    assert exited.value.code == 1
    assert "model 'nope' is not registered" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli(capsys, "models", "register", "injector", "--author", "Jane", *reg)
    assert "missing: laboratory, facility, beampath" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli(capsys, "models", "list", "--registry", unique("no-such-block"))
    assert "cannot load registry block" in capsys.readouterr().err


def test_cli_processes_upgrade_an_old_database_through_a_saved_block(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = create_engine(url)
    migrate.upgrade(engine, "0001")  # as left by a release that shipped only the first revision
    engine.dispose()
    name = unique("old-registry")
    ModelRegistry(url=url).save(name)

    refused = cli_process("models", "list", "--registry", name)
    assert refused.returncode == 1
    assert "run `lume-prefect registry upgrade`" in " ".join(refused.stderr.split())

    upgraded = cli_process("registry", "upgrade", "--registry", name)
    assert upgraded.returncode == 0, upgraded.stderr
    assert "upgraded from revision 0001 to 0004" in upgraded.stdout

    # the registry may also come from $LUME_PREFECT_REGISTRY
    registered = cli_process("models", "register", "injector", "1.0", "--source", "s", "--entrypoint", "m:f",
                             "--author", "a", "--laboratory", "l", "--facility", "f", "--beampath", "b", "--json",
                             LUME_PREFECT_REGISTRY=name)
    assert registered.returncode == 0, registered.stderr
    assert json.loads(registered.stdout)["version"] == "1.0"
    status = cli_process("registry", "status", "--json", "--registry", name)
    assert json.loads(status.stdout)["state"] == "up to date"


# ---- LumeServices.registry: either block type, through the real API --------------------


@pytest.mark.parametrize("kind", ["sql", "mlflow"])
def test_lume_services_saves_and_loads_either_registry(kind, tmp_path, request):
    from lume_prefect.core.resolve import resolve, using_services
    from lume_prefect.files import LocalFiles
    from lume_prefect.results import SQLResults
    from lume_prefect.services import LumeServices

    if kind == "mlflow":
        registry = MLflowRegistry(tracking_uri=request.getfixturevalue("mlflow_server").url, username="lume", password=PASSWORD, live_alias="champion")
    else:
        registry = ModelRegistry(url=f"sqlite:///{tmp_path / 'registry.db'}")
    name = unique("services")
    LumeServices(
        files=LocalFiles(basepath=str(tmp_path / "files")), registry=registry,
        results=SQLResults(url=f"sqlite:///{tmp_path / 'results.db'}"),
    ).save(name)

    loaded = LumeServices.load(name)
    assert type(loaded.registry) is type(registry)  # the union picked the saved type, not the first that validates
    assert loaded.registry.model_dump(context={"include_secrets": True}) == registry.model_dump(context={"include_secrets": True})
    with using_services(loaded):
        assert resolve(None, "registry") is loaded.registry
        assert resolve(None, "registry").list_models() is not None
    with get_client(sync_client=True) as client:
        document = client.read_block_document_by_name(name, "lume-services", include_secrets=False)
    assert PASSWORD not in json.dumps(document.data, default=str) and PASSWORD not in repr(loaded)


def test_the_ui_offers_both_registry_types_for_lume_services():
    """Prefect's UI renders a field whose schema is anyOf block references as a picker of the
    block type, then of a saved block of that type: both registry types must be in it."""
    from lume_prefect.services import LumeServices

    schema = LumeServices.model_json_schema()
    options = schema["properties"]["registry"]["anyOf"]
    names = [ref["$ref"].rsplit("/", 1)[-1] for ref in options]
    slugs = {schema["definitions" if "definitions" in schema else "$defs"][n]["block_type_slug"] for n in names}
    assert slugs == {"lume-model-registry", "lume-mlflow-registry"}
    assert {ref["block_type_slug"] for ref in schema["block_schema_references"]["registry"]} == slugs


def test_mlflow_block_hides_its_password_and_refuses_one_in_the_uri():
    with pytest.raises(ValueError, match=r"tracking_uri 'https://lume:\*\*\*@mlflow.example.org'.*password field") as caught:
        MLflowRegistry(tracking_uri=f"https://lume:{PASSWORD}@mlflow.example.org")
    assert PASSWORD not in str(caught.value)
    with pytest.raises(ValueError, match="tracking_uri 'file:///tmp/mlruns'.*http"):
        MLflowRegistry(tracking_uri="file:///tmp/mlruns")
    block = MLflowRegistry(tracking_uri="https://mlflow.example.org", username="lume", password=PASSWORD)
    assert PASSWORD not in repr(block) and PASSWORD not in str(block.model_dump())
    assert MLflowRegistry(tracking_uri="https://mlflow.example.org", username="", password="").password is None
