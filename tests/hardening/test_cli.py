"""The CLI: every failure is one line on stderr naming what failed, a non-zero exit code, and
no secret; never a traceback."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid

import pytest
from prefect.settings import PREFECT_API_URL
from pydantic import SecretStr

from tests.components import ROOT, venv_script

SECRET = "PW-lume-hardening-13"
DOWN_POSTGRES = f"postgresql+psycopg://lume:{SECRET}@127.0.0.1:9/lume"  # port 9 (discard): nothing listens
WRONG_PASSWORD_MARIADB = f"mysql+pymysql://root:{SECRET}@127.0.0.1:3306/test"


def lume(*args: str, cwd=None) -> subprocess.CompletedProcess:
    """The installed command in its own process, as a user runs it."""
    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value() or "", "PREFECT_LOGGING_LEVEL": "ERROR"}
    return subprocess.run([venv_script("lume-prefect"), *args], capture_output=True, text=True, env=env, timeout=180, cwd=cwd)


@pytest.fixture
def lume_here(capsys, monkeypatch):
    """The command's ``main`` in this process (the matrix is large: a process each would cost
    minutes of imports); the same entry point the installed script calls."""
    from lume_prefect.cli import main

    def run(*args: str, cwd=None) -> subprocess.CompletedProcess:
        if cwd is not None:
            monkeypatch.chdir(cwd)
        monkeypatch.setattr(sys, "argv", ["lume-prefect", *args])
        capsys.readouterr()
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        captured = capsys.readouterr()
        return subprocess.CompletedProcess(args, code, captured.out, captured.err)

    return run


PREFECT_LOG_LINE = re.compile(r"^\d\d:\d\d:\d\d\.\d+ \| ")  # Prefect's own logging (the test harness sets DEBUG)


def assert_one_clear_line(done: subprocess.CompletedProcess, *named: str) -> None:
    lines = (done.stdout + done.stderr).strip().splitlines()
    output = "\n".join(line for line in lines if not PREFECT_LOG_LINE.match(line))
    assert done.returncode != 0, output
    assert "\n" not in output and "Traceback" not in output, output
    assert output.startswith("error: "), output
    assert SECRET not in output, output
    for thing in named:
        assert thing in output, f"{thing!r} not named in: {output}"


@pytest.fixture(scope="module")
def not_a_database(tmp_path_factory):
    path = tmp_path_factory.mktemp("notdb") / "registry.db"
    path.write_text("this is a text file, not a SQLite database\n" * 100)
    return path


@pytest.fixture(scope="module")
def registry_blocks(prefect_api, not_a_database):
    """Saved ModelRegistry blocks whose databases cannot be used, by case."""
    from lume_prefect.registry import ModelRegistry

    names = {}
    for case, url in {
        "postgres down": DOWN_POSTGRES,
        "mariadb wrong password": WRONG_PASSWORD_MARIADB,
        "sqlite not a database": f"sqlite:///{not_a_database}",
    }.items():
        names[case] = f"broken-{uuid.uuid4().hex[:8]}"
        ModelRegistry(url=SecretStr(url)).save(names[case], _sync=True)
    return names


REGISTRY_CASES = {
    "postgres down": ("127.0.0.1:9", "Connection refused"),
    "mariadb wrong password": ("root:***@127.0.0.1:3306", "Access denied"),
    "sqlite not a database": ("registry.db", "not a database"),
}


@pytest.mark.prefect
@pytest.mark.parametrize("command", [("models", "list"), ("registry", "status"), ("registry", "upgrade")])
@pytest.mark.parametrize("case", list(REGISTRY_CASES))
def test_registry_commands_on_an_unusable_database(lume_here, registry_blocks, command, case):
    assert_one_clear_line(lume_here(*command, "--registry", registry_blocks[case]), *REGISTRY_CASES[case])


@pytest.mark.prefect
def test_models_list_on_a_registry_in_a_mistyped_directory(lume_here, prefect_api, tmp_path):
    from lume_prefect.registry import ModelRegistry

    url = f"sqlite:///{tmp_path}/regsitry/registry.db"
    name = f"typo-{uuid.uuid4().hex[:8]}"
    ModelRegistry(url=SecretStr(url)).save(name, _sync=True)
    assert_one_clear_line(lume_here("models", "list", "--registry", name), url, f"directory '{tmp_path}/regsitry' does not exist")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.prefect
def test_the_installed_command_gives_the_same_one_line(registry_blocks):
    assert_one_clear_line(lume("models", "list", "--registry", registry_blocks["postgres down"]), *REGISTRY_CASES["postgres down"])


@pytest.mark.unit
@pytest.mark.parametrize(
    "case",
    ["postgres down", "not a url", "sqlite not a database", "export to a missing directory", "sqlite in a mistyped directory"],
)
def test_results_commands_on_an_unusable_store_or_path(lume_here, case, not_a_database, tmp_path):
    args, named = {
        "sqlite in a mistyped directory": (["list", "--url", f"sqlite:///{tmp_path}/runz/results.db"],
                                           [f"sqlite:///{tmp_path}/runz/results.db", f"directory '{tmp_path}/runz' does not exist"]),
        "postgres down": (["list", "--url", DOWN_POSTGRES], ["127.0.0.1:9", "Connection refused"]),
        "not a url": (["list", "--url", "not-a-url"], ["not a database URL"]),
        "sqlite not a database": (["list", "--url", f"sqlite:///{not_a_database}"], [str(not_a_database), "not a database"]),
        "export to a missing directory": (
            ["export", "/nonexistent/d/o.csv", "--url", f"sqlite:///{tmp_path}/results.db"],
            ["/nonexistent/d"],
        ),
    }[case]
    assert_one_clear_line(lume_here("results", *args), *named)


@pytest.mark.prefect
@pytest.mark.parametrize(
    "entrypoint, source, named",
    [
        ("model.py:nope", "flows/toy_beam", ["nope", "model.py"]),
        ("model.py", "flows/toy_beam", ["invalid entrypoint 'model.py'", "path/to/file.py:flow_function"]),
        (":::", "/tmp", ["invalid entrypoint ':::'"]),
        ("missing.py:toy_beam", "flows/toy_beam", ["no file 'missing.py' in 'flows/toy_beam'"]),
    ],
)
def test_deploy_of_an_entrypoint_that_is_not_there(lume_here, entrypoint, source, named, tmp_path):
    from tests.models.conftest import temp_services

    name = f"services-{uuid.uuid4().hex[:8]}"
    temp_services(tmp_path / "home").save(name, _sync=True)
    assert_one_clear_line(lume_here("deploy", entrypoint, "--source", source, "--services", name, cwd=ROOT), *named)


@pytest.mark.unit
def test_run_refuses_an_input_given_twice():
    done = lume("run", "toy-beam", "-i", "sigma_x=1e-3", "-i", "sigma_x=2e-3", "--services", "not-needed")
    assert_one_clear_line(done, "'sigma_x' is given twice")


@pytest.mark.unit
def test_debug_shows_the_traceback_when_asked():
    env = {**os.environ, "LUME_PREFECT_DEBUG": "1"}
    done = subprocess.run([venv_script("lume-prefect"), "results", "list", "--url", "not-a-url"], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode != 0 and "Traceback" in done.stderr


@pytest.mark.unit
def test_passwords_are_hidden_in_any_text():
    from lume_prefect.cli.errors import hide_passwords

    assert hide_passwords(f"x postgresql+psycopg://u:{SECRET}@h/db and mysql://r:a:b@h") == "x postgresql+psycopg://u:***@h/db and mysql://r:***@h"
    assert hide_passwords("sqlite:////tmp/a.db and http://h:80/x") == "sqlite:////tmp/a.db and http://h:80/x"
