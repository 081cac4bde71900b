"""Registry: a bad URL is one clear error without its password, nothing is created on disk
unless asked, and a database restart never reaches the caller."""

from __future__ import annotations

import pickle
import threading

import pytest

from lume_prefect.registry import SQLRegistry
from lume_prefect.registry.errors import InvalidRegistryURL


BAD_URLS = {
    "not a url": ("not a url", "not a SQLAlchemy database URL"),
    "port not a number": ("postgresql+psycopg://lume:PW-13@db:notaport/lume", "port must be a number"),
    "mariadb port": ("mysql+pymysql://root:PW-13@127.0.0.1:33o6/x", "port must be a number"),
    "empty scheme": ("://x", "not a SQLAlchemy database URL"),
}


@pytest.mark.unit
@pytest.mark.parametrize("case", list(BAD_URLS))
def test_a_bad_registry_url_is_one_clear_error_without_its_password(case):
    url, reason = BAD_URLS[case]
    with pytest.raises(InvalidRegistryURL, match=reason) as info:
        SQLRegistry(url)
    assert "PW-13" not in str(info.value)
    assert isinstance(info.value, ValueError)
    assert str(pickle.loads(pickle.dumps(info.value))) == str(info.value)


@pytest.mark.unit
def test_the_registry_block_refuses_a_port_that_is_not_a_number():
    from lume_prefect.registry import ModelRegistry

    with pytest.raises(ValueError, match="port must be a number") as info:
        ModelRegistry(url="postgresql+psycopg://lume:PW-13@db:notaport/lume")
    assert "PW-13" not in str(info.value) and "int()" not in str(info.value)


@pytest.mark.unit
def test_a_sqlite_registry_in_a_missing_directory_is_refused_not_created(tmp_path):
    from lume_prefect import MissingDatabaseDirectory

    missing = tmp_path / "no" / "such" / "dir"
    url = f"sqlite:///{missing}/registry.db"
    with pytest.raises(MissingDatabaseDirectory) as info:
        SQLRegistry(url)
    assert str(info.value) == f"{url}: directory '{missing}' does not exist; create it first, or correct the URL"
    assert (info.value.url, info.value.directory) == (url, str(missing))
    assert isinstance(info.value, FileNotFoundError) and isinstance(info.value, ValueError)  # as InvalidRegistryURL was
    assert not (tmp_path / "no").exists() and list(tmp_path.iterdir()) == []
    missing.mkdir(parents=True)
    SQLRegistry(f"sqlite:///{missing}/registry.db").register_model("m", author="a", laboratory="l", facility="f", beampath="b")
    assert (missing / "registry.db").is_file()


@pytest.mark.unit
def test_the_default_registry_location_is_still_created(tmp_path, monkeypatch):
    monkeypatch.setenv("LUME_PREFECT_HOME", str(tmp_path / "home"))
    SQLRegistry().register_model("m", author="a", laboratory="l", facility="f", beampath="b")
    assert (tmp_path / "home" / "registry.db").is_file()


@pytest.mark.unit
def test_a_url_into_the_data_dir_creates_it_as_the_default_does(tmp_path, monkeypatch):
    """blocks/local.yaml names sqlite:///${LUME_PREFECT_HOME}/registry.db: the data dir is lume-prefect's own."""
    from lume_prefect.registry import ModelRegistry

    monkeypatch.setenv("LUME_PREFECT_HOME", str(tmp_path / "fresh" / "home"))
    ModelRegistry(url=f"sqlite:///{tmp_path}/fresh/home/registry.db").register_model("m", author="a", laboratory="l", facility="f", beampath="b")
    assert (tmp_path / "fresh" / "home" / "registry.db").is_file()


@pytest.mark.slow
def test_registry_calls_survive_a_postgres_restart(private_postgres):
    registry = SQLRegistry(private_postgres.url)
    registry.register_model("beam", author="a", laboratory="l", facility="f", beampath="b")
    errors: list[BaseException] = []
    registered: list[str] = []

    def register() -> None:
        try:
            for i in range(300):
                version = registry.register_version("beam", f"1.{i}", source="s", entrypoint="m.py:f")
                registry.promote("beam", version.version)
                registered.append(registry.live_version("beam").version)
        except BaseException as exc:  # noqa: BLE001 - the test fails on any
            errors.append(exc)

    thread = threading.Thread(target=register)
    thread.start()
    while len(registered) < 20 and thread.is_alive():
        threading.Event().wait(0.01)
    private_postgres.restart(down_for=1.5)
    thread.join(timeout=180)
    assert errors == []
    assert len(registered) == 300 and registered[-1] == "1.299"
    assert [v.version for v in registry.list_versions("beam")][:1] == ["1.299"]
    assert len(registry.history("beam", "live")) == 300


@pytest.mark.unit
def test_only_lost_connections_are_retried():
    from lume_prefect.core.retry import is_transient

    class OperationalError(Exception):
        def __init__(self, text: str):
            super().__init__(text)
            self.orig = Exception(text)

    assert is_transient(OperationalError('connection to server at "h", port 5432 failed: Connection refused'))
    assert is_transient(OperationalError("FATAL:  the database system is shutting down"))
    assert not is_transient(OperationalError('connection to server at "h", port 5432 failed: FATAL:  role "x" does not exist'))
    assert not is_transient(OperationalError('connection to server at "h" failed: FATAL:  password authentication failed'))
    assert not is_transient(OperationalError("database is locked"))
    assert not is_transient(ValueError("connection refused"))


# ---- round 2 (issue 21): one rule for text on every backend, checked before any SQL ---------


@pytest.fixture(params=["sqlite", "postgresql", "mariadb", "mlflow"])
def every_registry(request):
    """A registry with model ``beam`` and version 1.0, on each SQL backend and on MLflow."""
    from lume_prefect.registry.stores import open_store
    from tests.databases import fresh_database

    if request.param == "mlflow":
        from tests.registry.conftest import _wipe_mlflow

        url = request.getfixturevalue("mlflow_server").url
        _wipe_mlflow(url)
        registry = open_store(url)
    else:
        context = fresh_database(request.param)
        registry = SQLRegistry(context.__enter__())
        request.addfinalizer(lambda: context.__exit__(None, None, None))
    registry.register_model("beam", author="a", laboratory="l", facility="f", beampath="b")
    registry.register_version("beam", "1.0", source="/src", entrypoint="m.py:f")
    return registry


MODEL_TEXT_FIELDS = ["author", "laboratory", "facility", "beampath", "description"]
BAD_TEXT = {"NUL": ("a\x00b", "contains a NUL character"), "lone surrogate": ("a\ud800b", "lone surrogate")}


@pytest.mark.parametrize("bad", list(BAD_TEXT))
def test_text_no_database_stores_is_refused_naming_the_field(every_registry, bad):
    from lume_prefect.registry.errors import InvalidValue

    text, reason = BAD_TEXT[bad]
    fields = {"author": "a", "laboratory": "l", "facility": "f", "beampath": "b"}
    calls = {
        **{f"register_model {f}": (f, lambda f=f: every_registry.register_model("m2", **{**fields, f: text})) for f in MODEL_TEXT_FIELDS},
        "tag value": ("tag 'k'", lambda: every_registry.register_model("m2", **fields, tags={"k": text})),
        "update_model": ("author", lambda: every_registry.update_model("beam", author=text)),
        "source": ("source", lambda: every_registry.register_version("beam", "2.0", source=text, entrypoint="m.py:f")),
        "image": ("image", lambda: every_registry.register_version("beam", "2.0", source="/s", entrypoint="m.py:f", image=text)),
        "by": ("by", lambda: every_registry.promote("beam", "1.0", by=text)),
        "deployment_name": ("deployment_name", lambda: every_registry.set_deployment("beam", "1.0", deployment_name=text)),
    }
    for name, (field, call) in calls.items():
        with pytest.raises(InvalidValue, match=reason) as info:
            call()
        assert info.value.field == field, name
        assert "INSERT" not in str(info.value) and "UPDATE" not in str(info.value)
    assert [m.name for m in every_registry.list_models()] == ["beam"]
    assert [v.version for v in every_registry.list_versions("beam")] == ["1.0"]
    assert every_registry.history("beam") == []


PARAMETERS_SCHEMAS = {
    "NaN": ({"type": "object", "properties": {"x": {"type": "number", "default": float("nan")}}}, "NaN and infinities are not JSON numbers"),
    "infinity": ({"type": "object", "maximum": float("inf")}, "NaN and infinities are not JSON numbers"),
    "NUL": ({"type": "object", "title": "a\x00b"}, "contains a NUL character"),
    "lone surrogate": ({"type": "object", "title": "a\udfffb"}, "lone surrogate"),
}


@pytest.mark.parametrize("case", list(PARAMETERS_SCHEMAS))
def test_a_parameters_schema_no_database_stores_is_refused(every_registry, case):
    from lume_prefect.registry.errors import InvalidValue

    schema, reason = PARAMETERS_SCHEMAS[case]
    with pytest.raises(InvalidValue, match=reason) as info:
        every_registry.register_version("beam", "2.0", source="/s", entrypoint="m.py:f", parameters_schema=schema)
    assert info.value.field == "parameters_schema"
    assert [v.version for v in every_registry.list_versions("beam")] == ["1.0"]
    good = {"type": "object", "title": "émittance 🚀", "properties": {"x": {"type": "number", "default": 0.5}}}
    assert every_registry.register_version("beam", "2.0", source="/s", entrypoint="m.py:f", parameters_schema=good).parameters_schema == good


# ---- round 3: numbers in a parameters_schema come back as given, on every store ------------


SCHEMA_NUMBERS = {
    "1e16": 1e16, "1e20": 1e20, "-1.5e300": -1.5e300, "max float": 1.7976931348623157e308, "-0.0": -0.0, "5e-324": 5e-324,
    "0.1": 0.1, "1e15": 1e15, "int64 max": 2**63 - 1, "int64 min": -(2**63), "2**63": 2**63, "uint64 max": 2**64 - 1, "10**30": 10**30,
}


def _same_number(back, given) -> bool:
    import math

    if type(back) is not type(given) or back != given:
        return False
    return not isinstance(given, float) or math.copysign(1, back) == math.copysign(1, given)


def test_numbers_in_a_parameters_schema_come_back_as_the_same_type_and_value(every_registry):
    numbers = {name.replace(" ", "_").replace("*", "^"): value for name, value in SCHEMA_NUMBERS.items()}
    schema = {
        "type": "object",
        "properties": {name: {"type": "number", "default": value} for name, value in numbers.items()},
        "examples": [list(numbers.values()), {"nested": [{"deep": 1e20}, -0.0]}],
    }
    every_registry.register_version("beam", "2.0", source="/s", entrypoint="m.py:f", parameters_schema=schema)
    every_registry.promote("beam", "2.0")
    for how, version in [
        ("get_version", every_registry.get_version("beam", "2.0")),
        ("latest_version", every_registry.latest_version("beam")),
        ("live_version", every_registry.live_version("beam")),
        ("list_versions", every_registry.list_versions("beam")[0]),
    ]:
        back = version.parameters_schema
        assert back == schema, how  # == alone would take 1e16 for 10**16 and -0.0 for 0.0
        for name, value in numbers.items():
            assert _same_number(back["properties"][name]["default"], value), (how, name, back["properties"][name]["default"])
        assert all(_same_number(b, g) for b, g in zip(back["examples"][0], numbers.values())), how
        assert _same_number(back["examples"][1]["nested"][0]["deep"], 1e20) and _same_number(back["examples"][1]["nested"][1], -0.0), how


@pytest.mark.unit
def test_a_schema_without_such_floats_is_stored_as_it_is():
    """Only a schema holding a float >= 1e16 or -0.0 is stored wrapped; reading any other back
    costs one key lookup (the registry's hot lookups), not a walk of the schema."""
    from lume_prefect.core.jsonfloats import from_json_column, to_json_column

    plain = {"type": "object", "properties": {"x": {"type": "number", "default": 9.9e15, "minimum": 0.0, "examples": [1, -1e-300]}}}
    assert to_json_column(plain) is plain and from_json_column(plain) is plain
    big = {"type": "object", "properties": {"x": {"type": "number", "maximum": 1e16, "default": -0.0}}}
    stored = to_json_column(big)
    assert stored == {"__lume__": "floats", "tree": {"type": "object", "properties": {"x": {
        "type": "number", "maximum": {"__lume__": "float", "value": "1e+16"}, "default": {"__lume__": "float", "value": "-0.0"}}}}}
    assert from_json_column(stored) == big and str(from_json_column(stored)) == str(big)  # str: -0.0 is not 0.0


def test_the_float_tag_is_refused_as_a_key_of_a_parameters_schema(every_registry):
    from lume_prefect.registry.errors import InvalidValue

    for schema in ({"type": "object", "default": {"__lume__": "float", "value": "1e+16"}}, {"__lume__": 1}):
        with pytest.raises(InvalidValue, match="parameters_schema.*the key '__lume__' is lume-prefect's own") as info:
            every_registry.register_version("beam", "2.0", source="/s", entrypoint="m.py:f", parameters_schema=schema)
        assert info.value.field == "parameters_schema"
    assert [v.version for v in every_registry.list_versions("beam")] == ["1.0"]
    text = {"type": "object", "title": 'a "__lume__": b', "properties": {"__lume": {"type": "string", "default": "__lume__"}}}
    assert every_registry.register_version("beam", "2.0", source="/s", entrypoint="m.py:f", parameters_schema=text).parameters_schema == text


# ---- one deployment_id rule on every store (round 2 on SQL, round 3 on MLflow); one signature


@pytest.mark.parametrize("deployment_id", ["0b5e", "not-a-uuid", "", "1234", "00000000-0000-0000-0000-00000000000g"])
def test_a_deployment_id_must_be_a_uuid(every_registry, deployment_id):
    import uuid

    from lume_prefect.registry.errors import InvalidValue

    with pytest.raises(InvalidValue, match="deployment_id .* must be a UUID") as info:
        every_registry.set_deployment("beam", "1.0", deployment_name="beam/v1", deployment_id=deployment_id)
    assert info.value.field == "deployment_id"
    assert every_registry.get_version("beam", "1.0").deployment_name is None
    given = uuid.uuid4()
    stored = every_registry.set_deployment("beam", "1.0", deployment_name="beam/v1", deployment_id=str(given).upper(), image="img:2")
    assert (stored.deployment_id, stored.image) == (str(given), "img:2")


@pytest.mark.unit
def test_the_mlflow_store_has_the_sql_registrys_signatures():
    """The blocks call either store with SQLRegistry's signature (``delegate``): a parameter
    missing from MLflowStore (``set_deployment(image=)``, used by deploy) is a TypeError there."""
    import inspect

    from lume_prefect.registry.blocks import REGISTRY_METHODS
    from lume_prefect.registry.mlflow_store import MLflowStore

    for method in (*REGISTRY_METHODS, "schema_revision"):
        sql, mlflow = inspect.signature(getattr(SQLRegistry, method)), inspect.signature(getattr(MLflowStore, method))
        assert list(mlflow.parameters.values()) == list(sql.parameters.values()), method
