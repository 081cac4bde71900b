"""Store-only commands without Prefect (issue 19.1): with no Prefect API configured, ``models``,
``registry``, ``results`` and ``files`` commands build their stores from the saved blocks' data
(``lume_prefect.stores``) in a process that never imports Prefect -- nor Alembic, pandas or
matplotlib -- and answer exactly what the same commands answer through the blocks
and a Prefect API."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest
from pydantic import SecretStr

pytestmark = pytest.mark.prefect


def _cli(args: list[str], env: dict[str, str]) -> tuple[subprocess.CompletedProcess, set[str]]:
    """The command's result (its stderr without the import lines) and the modules it imported."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "lume_prefect.cli", *args],
                          capture_output=True, text=True, env=env, timeout=300)
    lines = done.stderr.splitlines()
    imported = {line.rpartition("|")[2].strip() for line in lines if line.startswith("import time:")}
    done.stderr = "\n".join(line for line in lines if not line.startswith("import time:"))
    return done, imported


def _user_environment(tmp_path) -> dict[str, str]:
    """A user's environment: no Prefect API, no test mode (where Prefect's settings differ)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "LUME_"))}
    env.update(PREFECT_HOME=str(tmp_path / "prefect-home"), LUME_PREFECT_HOME=str(tmp_path / "lume-home"), PREFECT_LOGGING_LEVEL="WARNING", COLUMNS="300")
    return env


def _packages(imported: set[str]) -> set[str]:
    return {name.split(".")[0] for name in imported}


def test_store_commands_answer_the_same_without_prefect(tmp_path):
    from prefect.settings import PREFECT_API_URL, PREFECT_SERVER_DATABASE_CONNECTION_URL

    from lume_prefect import LocalFiles, ModelRegistry, Result, SQLResults
    from lume_prefect.services import LumeServices

    name = f"fast-{uuid.uuid4().hex[:8]}"
    files = LocalFiles(basepath=str(tmp_path / "files"))
    files.save(f"{name}-files")
    services = LumeServices(
        files=files,
        registry=ModelRegistry(url=SecretStr(f"sqlite:///{tmp_path / 'registry.db'}")),
        results=SQLResults(url=SecretStr(f"sqlite:///{tmp_path / 'results.db'}")),
    )
    services.save(name)
    services.registry.register_model("fast-model", author="Ada", laboratory="SLAC", facility="LCLS", beampath="cu_hxr", tags={"kind": "toy"})
    services.registry.register_version("fast-model", "1.0.0", source=str(tmp_path), entrypoint="model.py:flow")
    key = services.results.insert(Result(model="fast-model", version="1.0.0", inputs={"x": 1.5}, outputs={"y": 3.0}))
    files.write("run-1/out.json", {"y": 3.0})
    (tmp_path / "upload.txt").write_text("hello")

    database = PREFECT_SERVER_DATABASE_CONNECTION_URL.value()
    common = _user_environment(tmp_path)
    common.update(LUME_SERVICES=name)
    through_api = {**common, "PREFECT_API_URL": PREFECT_API_URL.value()}
    without_api = {**common, "PREFECT_SERVER_DATABASE_CONNECTION_URL": getattr(database, "get_secret_value", lambda: database)()}

    commands = [
        ["models", "list", "--json"],
        ["models", "versions", "fast-model"],
        ["models", "show", "fast-model"],
        ["registry", "status", "--json"],
        ["results", "list", "--json"],
        ["results", "show", key[:12], "--json"],
        ["files", "ls", f"{name}-files", "-r"],
        ["files", "info", f"{name}-files", "--json"],
        ["files", "put", f"{name}-files", str(tmp_path / "upload.txt"), "up/a.txt"],
        ["files", "ls", f"lume-local-files/{name}-files", "up"],
        ["files", "ls", f"{name}-absent"],  # failures answer the same too
        ["models", "list", "--services", f"{name}-absent"],
        ["results", "show", "ffff"],
    ]
    for args in commands:
        fast, imported = _cli(args, without_api)
        block, imported_by_block = _cli(args, through_api)
        assert "prefect" in _packages(imported_by_block), "the comparison goes through the blocks and the API"
        assert (fast.returncode, fast.stdout, fast.stderr) == (block.returncode, block.stdout, block.stderr), args
        assert not {"prefect", "alembic", "pandas", "matplotlib"} & _packages(imported), (args, {"prefect", "alembic", "pandas", "matplotlib"} & _packages(imported))
    assert fast.returncode == 1 and "ffff" in fast.stderr
    assert '"block": "lume-local-files/' in _cli(["files", "put", f"{name}-files", str(tmp_path / "upload.txt"), "up/b.txt"], without_api)[0].stdout


@pytest.mark.unit
def test_the_embedded_local_services_need_no_prefect(tmp_path):
    env = _user_environment(tmp_path)
    first, imported = _cli(["models", "list"], env)  # a fresh registry: created by its migrations
    assert first.returncode == 0, first.stderr
    assert "alembic" in _packages(imported) and "prefect" not in _packages(imported)
    status, imported = _cli(["registry", "status"], env)  # at the latest revision: read with plain SQL
    assert status.returncode == 0, status.stderr
    assert f"{tmp_path}/lume-home/registry.db: revision 0004, latest 0004: up to date" in status.stdout
    assert not {"prefect", "alembic", "pandas"} & _packages(imported), sorted(imported)
    assert not (tmp_path / "prefect-home" / "prefect.db").exists()  # no server ever made its database
