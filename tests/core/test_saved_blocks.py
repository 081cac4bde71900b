"""Saved blocks read without a Prefect server (issue 19.1): straight from the database a
temporary server would use, equal to what the API returns; store-only commands start no
server; a saved block (``local`` included) wins over the built ``local``."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from pydantic import SecretStr

pytestmark = pytest.mark.prefect


def _no_api():
    from prefect.settings import PREFECT_API_URL, temporary_settings

    return temporary_settings(updates={PREFECT_API_URL: None})


def _plain(block):
    """A block's settings with secrets revealed, for comparing two loads of it."""
    def reveal(value):
        if isinstance(value, SecretStr):
            return value.get_secret_value()
        if isinstance(value, dict):
            return {k: reveal(v) for k, v in value.items()}
        return value

    return reveal(block.model_dump())


def test_a_saved_services_block_reads_the_same_without_the_api(tmp_path):
    from lume_prefect import LocalFiles, ModelRegistry, SQLResults
    from lume_prefect.core.saved_blocks import load_saved
    from lume_prefect.services import LumeServices

    name = f"offline-{uuid.uuid4().hex[:8]}"
    files = LocalFiles(basepath=str(tmp_path / "files"))
    files.save(f"{name}-files")  # a named nested block, referenced by the services
    LumeServices(
        files=files,
        registry=ModelRegistry(url=SecretStr(f"sqlite:///{tmp_path / 'r.db'}")),
        results=SQLResults(url=SecretStr("postgresql+psycopg://lume:s3cret@127.0.0.1/lume")),
        run_mode="remote", work_pool="elsewhere",
    ).save(name)
    through_api = LumeServices.load(name)
    with _no_api():
        read = load_saved(LumeServices, name)
        assert load_saved(LumeServices, f"{name}-absent") is None
        assert load_saved(LocalFiles, f"{name}-files").basepath == str(tmp_path / "files")
    assert _plain(read) == _plain(through_api)
    assert read.results.url.get_secret_value().endswith("s3cret@127.0.0.1/lume")  # secrets decrypted, as the API gives them
    assert type(read.results).__name__ == "SQLResults" and read._block_document_name == name
    assert read._block_document_id == through_api._block_document_id


def test_with_an_api_configured_the_api_is_asked():
    from lume_prefect.core.saved_blocks import UNKNOWN, load_saved
    from lume_prefect.services import LumeServices

    assert load_saved(LumeServices, "local") is UNKNOWN  # the session's API is configured


def _cli(args, env):
    return subprocess.run([sys.executable, "-m", "lume_prefect.cli", *args], capture_output=True, text=True, env=env, timeout=300)


def _env_without_api(tmp_path, **extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_API_URL", "PREFECT_SERVER_DATABASE", "LUME_"))}
    env.update(PREFECT_HOME=str(tmp_path / "prefect-home"), LUME_PREFECT_HOME=str(tmp_path / "lume-home"), PREFECT_LOGGING_LEVEL="INFO", COLUMNS="300")
    env.update(extra)
    return env


@pytest.mark.unit
def test_store_commands_start_no_server_without_an_api(tmp_path):
    env = _env_without_api(tmp_path)
    for args in (["models", "list"], ["registry", "status"], ["results", "list"]):
        done = _cli(args, env)
        assert done.returncode == 0, done.stderr
        assert "temporary server" not in done.stderr.lower(), done.stderr
    assert "lume-home/registry.db" in _cli(["registry", "status"], env).stdout  # the local services, built from the data dir
    assert not (tmp_path / "prefect-home" / "prefect.db").exists()  # no server ever made its database


def test_a_saved_services_block_wins_without_an_api(tmp_path):
    from prefect.settings import PREFECT_SERVER_DATABASE_CONNECTION_URL

    from lume_prefect import LocalFiles, ModelRegistry, SQLResults
    from lume_prefect.services import LumeServices

    name = f"saved-{uuid.uuid4().hex[:8]}"
    LumeServices(
        files=LocalFiles(basepath=str(tmp_path / "saved" / "files")),
        registry=ModelRegistry(url=SecretStr(f"sqlite:///{tmp_path / 'saved-registry.db'}")),
        results=SQLResults(url=SecretStr(f"sqlite:///{tmp_path / 'saved-results.db'}")),
    ).save(name)
    env = _env_without_api(tmp_path, LUME_SERVICES=name,
                           PREFECT_SERVER_DATABASE_CONNECTION_URL=PREFECT_SERVER_DATABASE_CONNECTION_URL.value().get_secret_value()
                           if hasattr(PREFECT_SERVER_DATABASE_CONNECTION_URL.value(), "get_secret_value") else PREFECT_SERVER_DATABASE_CONNECTION_URL.value())
    done = _cli(["registry", "status"], env)
    assert done.returncode == 0, done.stderr
    assert "saved-registry.db" in done.stdout
    assert "temporary server" not in done.stderr.lower(), done.stderr

    missing = _cli(["models", "list"], {**env, "LUME_SERVICES": f"{name}-absent"})
    assert missing.returncode == 1
    assert f"no LumeServices block named '{name}-absent'" in missing.stderr
    assert "temporary server" not in missing.stderr.lower(), missing.stderr
