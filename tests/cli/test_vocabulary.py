"""One CLI vocabulary (issue 19.6): ``--services`` names the environment in every command that
uses a service (the older ``--store`` and ``--registry`` still work, hidden), ``ls`` and
``list`` both everywhere, a summary for every command and group in its parent's help, and
errors whose advice is a CLI command in the CLI and a Python call in Python."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import uuid

import pytest
from rich.console import Console

from lume_prefect.cli import app


def groups(application, path=()):
    """(path, App) of the application and every group below it."""
    yield path, application
    for name, sub in application.resolved_commands().items():
        if name in ("--help", "-h", "--version") or sub is application:
            continue
        if sub.resolved_commands().keys() - {"--help", "-h", "--version"}:
            yield from groups(sub, (*path, name))


@pytest.mark.unit
@pytest.mark.parametrize("path,group", list(groups(app)), ids=lambda v: " ".join(v) if isinstance(v, tuple) else "")
def test_every_command_has_a_summary_in_its_groups_help(path, group):
    out = io.StringIO()
    group.help_print([], console=Console(file=out, width=200, color_system=None))
    listed = {name for name, sub in group.resolved_commands().items() if sub.show and name not in ("--help", "-h", "--version")}
    rows = [line.strip("│ ").split(None, 1) for line in out.getvalue().splitlines() if line.startswith("│")]
    summaries = {row[0]: (row[1] if len(row) > 1 else "") for row in rows}
    for name in listed:
        assert summaries.get(name, "").strip(" │"), f"`lume-prefect {' '.join((*path, name))}` has no summary in `{' '.join(('lume-prefect', *path))} --help`"


@pytest.mark.unit
@pytest.mark.parametrize("group", ["files", "models", "results"])
def test_ls_and_list_are_one_command(group):
    commands = app[group].resolved_commands()
    assert commands["ls"].default_command is commands["list"].default_command
    shown = [name for name in ("ls", "list") if commands[name].show]
    assert len(shown) == 1  # the help lists it once


def _lume(env, *args):
    return subprocess.run([sys.executable, "-m", "lume_prefect.cli", *args], capture_output=True, text=True, env=env, timeout=300)


@pytest.fixture
def offline_env(tmp_path):
    """A user's shell with no Prefect server configured: the local services under a fresh home."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_API_URL", "PREFECT_SERVER_DATABASE", "LUME_"))}
    env.update(PREFECT_HOME=str(tmp_path / "prefect"), LUME_PREFECT_HOME=str(tmp_path / "lume"), COLUMNS="250")
    return env


@pytest.mark.unit
def test_errors_suggest_the_cli_command_in_the_cli_and_the_call_in_python(offline_env):
    from lume_prefect.registry.errors import NoLiveVersion

    name = f"m{uuid.uuid4().hex[:6]}"
    done = _lume(offline_env, "models", "register", name, "--author", "a", "--laboratory", "l", "--facility", "f", "--beampath", "b")
    assert done.returncode == 0, done.stderr
    done = _lume(offline_env, "run", name)
    assert done.returncode == 1
    assert f"`lume-prefect models promote {name} VERSION`" in done.stderr and "promote(" not in done.stderr
    assert f"promote({name!r}, VERSION)" in str(NoLiveVersion(name))  # Python keeps the call
    done = _lume(offline_env, "models", "register", name, "--author", "a", "--laboratory", "l", "--facility", "f", "--beampath", "b")
    assert "exist_ok" not in done.stderr and "lume-prefect models register" in done.stderr


@pytest.mark.prefect
def test_services_everywhere_and_the_old_names_still_work(tmp_path):
    from prefect.settings import PREFECT_API_URL
    from pydantic import SecretStr

    from lume_prefect import LocalFiles, ModelRegistry, SQLResults
    from lume_prefect.services import LumeServices

    name = f"vocab-{uuid.uuid4().hex[:8]}"
    registry = ModelRegistry(url=SecretStr(f"sqlite:///{tmp_path / 'registry.db'}"))
    results = SQLResults(url=SecretStr(f"sqlite:///{tmp_path / 'results.db'}"))
    registry.save(f"{name}-registry")
    results.save(f"{name}-results")
    LumeServices(files=LocalFiles(basepath=str(tmp_path / "files")), registry=registry, results=results).save(name)
    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value(), "PREFECT_LOGGING_LEVEL": "WARNING", "COLUMNS": "250"}
    env.pop("LUME_SERVICES", None)

    done = _lume(env, "models", "register", "vocab", "--author", "a", "--laboratory", "l", "--facility", "f", "--beampath", "b", "--services", name)
    assert done.returncode == 0, done.stderr
    for args in (["models", "ls", "--services", name, "--json"], ["models", "list", "--registry", f"{name}-registry", "--json"]):
        done = _lume(env, *args)
        assert done.returncode == 0, done.stderr
        assert [m["name"] for m in json.loads(done.stdout)] == ["vocab"], args
    done = _lume(env, "registry", "status", "--services", name, "--json")
    assert json.loads(done.stdout)["database"].endswith("registry.db"), done.stderr
    for option, value in (("--services", name), ("--store", f"{name}-results")):
        done = _lume(env, "results", "ls", option, value, "--json")
        assert done.returncode == 0 and json.loads(done.stdout) == [], done.stderr
    assert "--store" not in _lume(env, "results", "list", "--help").stdout  # hidden, not gone
    assert "--registry" not in _lume(env, "models", "list", "--help").stdout
    missing = _lume(env, "models", "list", "--services", f"{name}-absent")
    assert missing.returncode == 1 and f"no LumeServices block named '{name}-absent'" in missing.stderr
