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


def lume(*args: str, cwd=None, logging_level: str = "ERROR") -> subprocess.CompletedProcess:
    """The installed command in its own process, as a user runs it."""
    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value() or "", "PREFECT_LOGGING_LEVEL": logging_level}
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


# ---- round 2 (issue 21): tracebacks, silently accepted options, unclear errors --------------

FAILING_MODELS = {  # body added to toy-beam: what its one line must name
    "raises": ('raise RuntimeError("diverged at the first quadrupole")', "RuntimeError: diverged at the first quadrupole"),
    "returns object()": ("return object()", "must return a dict of outputs, got object"),
    "returns a lambda": ("return lambda: 1", "must return a dict of outputs, got function"),
    "returns 2**80": ("return 2**80", "must return a dict of outputs, got int"),
    "returns a list": ("return [1, 2]", "must return a dict of outputs, got list"),
    "returns None": ("return None", "must return a dict of outputs, got NoneType"),
    "misses an output": ('return {"rms_x": 1.0}', "declared outputs missing from the returned dict: rms_px"),
    "calls sys.exit(3)": ("import sys; sys.exit(3)", "the flow called sys.exit(3)"),
}


@pytest.fixture(scope="module")
def failing_versions(prefect_api, tmp_path_factory):
    """A saved services block with toy-beam 1.0.<i> for each failing model, and 1.9.0 that calls os._exit(9)."""
    from lume_prefect.models.deploy import register_model_version
    from tests.models.conftest import temp_services, write_version

    home = tmp_path_factory.mktemp("failing")
    services = temp_services(home / "services")
    name = f"failing-{uuid.uuid4().hex[:8]}"
    services.save(name, _sync=True)
    versions = {}
    for number, (case, (body, _)) in enumerate(FAILING_MODELS.items()):
        versions[case] = f"1.0.{number}"
        register_model_version("model.py:toy_beam", str(write_version(home / case.replace(" ", "-"), versions[case], body=body)), services=services)
    register_model_version("model.py:toy_beam", str(write_version(home / "exits", "1.9.0", body="import os; os._exit(9)")), services=services)
    return name, versions


@pytest.mark.prefect
@pytest.mark.parametrize("case", list(FAILING_MODELS))
def test_run_of_a_failing_model_is_one_line_naming_model_version_and_cause(lume_here, failing_versions, case):
    services, versions = failing_versions
    done = lume_here("run", "toy-beam", "--version", versions[case], "--services", services)
    assert_one_clear_line(done, "model 'toy-beam'", f"version '{versions[case]}'", FAILING_MODELS[case][1], "flow run's logs")


def shows_the_models_traceback(stderr: str) -> bool:
    """Prefect's ERROR line and the model's traceback lines (Prefect's test mode adds debug lines
    of its own, which quote log records on one line each)."""
    lines = [line for line in stderr.splitlines() if "| DEBUG" not in line]
    return any("| ERROR" in line and "Encountered exception" in line for line in lines) and any(
        line.lstrip().startswith("File ") and 'model.py", line' in line for line in lines)


@pytest.mark.prefect
def test_the_traceback_stays_in_the_flow_runs_logs_unless_verbose(failing_versions):
    """In its own process, as a user runs it: Prefect's ERROR line with the traceback does not
    reach the terminal; the flow run's logs keep it; --verbose prints it too."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    services, versions = failing_versions
    quiet = lume("run", "toy-beam", "--version", versions["raises"], "--services", services, logging_level="INFO")
    said = [line for line in quiet.stderr.splitlines() if line.startswith("error: ")]
    assert quiet.returncode == 1 and len(said) == 1 and "RuntimeError: diverged at the first quadrupole" in said[0], quiet.stderr
    assert not shows_the_models_traceback(quiet.stderr), quiet.stderr
    run_id = uuid.UUID(re.search(r"flow run ([0-9a-f-]{36})", quiet.stderr).group(1))
    with get_client(sync_client=True) as client:
        logs = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id])))
    assert any("Traceback" in log.message and "diverged at the first quadrupole" in log.message for log in logs)
    verbose = lume("run", "toy-beam", "--version", versions["raises"], "--services", services, "--verbose", logging_level="INFO")
    assert verbose.returncode == 1 and shows_the_models_traceback(verbose.stderr), verbose.stderr
    assert [line for line in verbose.stderr.splitlines() if line.startswith("error: ")] == [said[0].replace(str(run_id), re.search(r"flow run ([0-9a-f-]{36})", verbose.stderr).group(1)).split("; its traceback")[0]]


@pytest.mark.prefect
def test_a_model_that_calls_os_exit_in_process_is_said_in_one_line(failing_versions):
    services, _ = failing_versions
    done = lume("run", "toy-beam", "--version", "1.9.0", "--services", services)
    assert done.returncode == 9
    said = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert len(said) == 1, done.stderr
    assert "model 'toy-beam' version '1.9.0' called os._exit(9) in flow run" in said[0] and "marked Crashed" in said[0]


@pytest.mark.prefect
def test_sys_exit_in_a_model_is_model_run_failed_not_the_callers_exit(failing_versions):
    from lume_prefect.models.errors import ModelRunFailed
    from lume_prefect.models.run import run_model

    services, versions = failing_versions
    with pytest.raises(ModelRunFailed, match=r"ended Crashed: .*sys.exit\(3\)"):
        run_model("toy-beam", {}, versions["calls sys.exit(3)"], services=services)


SILENTLY_ACCEPTED = {  # arguments: what the one line names
    "run --timeout -1": (["run", "toy-beam", "--timeout", "-1"], ["--timeout", "Must be > 0"]),
    "run --timeout nan": (["run", "toy-beam", "--timeout", "nan"], ["--timeout", "Must be > 0"]),
    "scan --grid twice": (["scan", "toy-beam", "--grid", "sigma_x=1e-3", "--grid", "sigma_x=2e-3"], ["--grid sigma_x is given twice"]),
    "scan --workers -2": (["scan", "toy-beam", "--grid", "sigma_x=1e-3", "--workers", "-2"], ["--workers", "Must be >= 1"]),
    "scan --workers 0": (["scan", "toy-beam", "--grid", "sigma_x=1e-3", "--workers", "0"], ["--workers", "Must be >= 1"]),
    "scan --cluster-class os.system": (["scan", "toy-beam", "--grid", "sigma_x=1e-3", "--executor", "dask", "--cluster-class", "os.system"],
                                       ["'os.system' is not a Dask cluster class"]),
    "results list --store and --url": (["results", "list", "--store", "no-such", "--url", "sqlite:////tmp/x.db"], ["either --store", "or --url"]),
    "results plot p.txt": (["results", "plot", "p.txt", "--y", "rms_x", "--url", "sqlite:////tmp/x.db"], ["'p.txt'", "cannot write a figure as .txt"]),
    "reproduce --rtol -1": (["results", "reproduce", "k", "--rtol", "-1"], ["--rtol", "Must be >= 0"]),
    "reproduce --atol nan": (["results", "reproduce", "k", "--atol", "nan"], ["--atol", "Must be >= 0"]),
    "models register --tag novalue": (["models", "register", "m", "--tag", "novalue"], ["--tag takes KEY=VALUE", "'novalue'"]),
    "deploy --interval 0": (["deploy", "model.py:toy_beam", "--source", "flows/toy_beam", "--interval", "0"], ["--interval", "Must be > 0"]),
    "deploy --deployment-name a/b": (["deploy", "model.py:toy_beam", "--source", "flows/toy_beam", "--deployment-name", "1.0.0/staging"],
                                     ["deployment_name must be a non-empty name without any of /", "'1.0.0/staging'"]),
    "deploy --source /missing": (["deploy", "model.py:toy_beam", "--source", "/missing/models"], ["source directory '/missing/models' does not exist"]),
    "slurm submit --time 0": (["slurm", "submit", "hpc", "--time", "0", "--", "true"], ["time_limit '0' is zero", "UNLIMITED"]),
    "an unknown option": (["scan", "toy-beam", "--bogus", "1"], ["Unknown option: --bogus"]),
    "an unknown command": (["nosuch"], ['Unknown command "nosuch"']),
    "a value that is not a number": (["scan", "toy-beam", "--workers", "abc"], ['unable to convert "abc" into int']),
}


@pytest.mark.unit
@pytest.mark.parametrize("case", list(SILENTLY_ACCEPTED))
def test_bad_options_are_refused_in_one_line_before_anything_runs(lume_here, case, tmp_path):
    args, named = SILENTLY_ACCEPTED[case]
    assert_one_clear_line(lume_here(*args, cwd=ROOT), *named)
    assert not (tmp_path / "p.txt").exists()


@pytest.mark.prefect
@pytest.mark.parametrize(
    "args, named",
    [
        (["--pool", "no-such-pool"], ["work pool 'no-such-pool' does not exist", "prefect work-pool create"]),
        (["--cron", "every day"], ["cron 'every day' is not a cron expression"]),
    ],
)
def test_deploy_refuses_a_pool_or_schedule_that_would_be_made_up(lume_here, args, named, tmp_path):
    from tests.models.conftest import temp_services

    name = f"services-{uuid.uuid4().hex[:8]}"
    temp_services(tmp_path / "home").save(name, _sync=True)
    assert_one_clear_line(lume_here("deploy", "model.py:toy_beam", "--source", "flows/toy_beam", "--services", name, *args, cwd=ROOT), *named)
    from lume_prefect.registry import ModelRegistry

    assert ModelRegistry(url=SecretStr(f"sqlite:///{tmp_path}/home/registry.db")).list_models(_sync=True) == []  # nothing registered


@pytest.mark.unit
def test_results_plot_writes_the_format_its_extension_names(lume_here, tmp_path):
    from lume_prefect.results import Result, SQLResultsStore

    url = f"sqlite:///{tmp_path}/results.db"
    store = SQLResultsStore(url)
    store.insert_many([Result(model="m", version="1", inputs={"x": float(i)}, outputs={"y": i * 2.0}) for i in range(3)])
    store.close()
    for name, magic in {"p.jpg": b"\xff\xd8\xff", "p.svg": b"<?xml", "p.pdf": b"%PDF", "p.png": b"\x89PNG", "p": b"\x89PNG"}.items():
        done = lume_here("results", "plot", str(tmp_path / name), "--y", "y", "--x", "x", "--url", url)
        assert done.returncode == 0, done.stderr
        assert (tmp_path / name).read_bytes().startswith(magic), name
