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
