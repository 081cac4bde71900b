"""The README as a contract (issue 12.5): every code block in the project's documents is checked.

- ```python blocks run as written, each in a fresh process, the way a user's runs: a temporary
  working directory holding copies of ``flows/`` and ``blocks/`` (as a checkout's root does), a
  temporary ``LUME_PREFECT_HOME``, the session's Prefect API, and the real components a snippet
  names. A block that cannot run here carries ``<!-- not run: REASON -->`` on the line before
  its fence; it must still compile and every ``lume_prefect`` name it imports must exist.
  A block followed by "prints" and a plain block must print exactly that.
- Shell transcripts: every ``lume-prefect`` command, sub-command and option named exists in the
  CLI (walked with cyclopts); ``python -c`` code in them compiles and its imports resolve; the
  read-only ``--help`` and ``profiles show`` commands run for real.
- ```yaml blocks parse; a profile (a ``blocks:`` mapping) is validated by ``lume_prefect.profiles``.
- The README's "Where the public names live" tables list every public name, and each imports
  as written.
"""

from __future__ import annotations

import ast
import importlib
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = ("README.md", "ARCHITECTURE.md", "deployments/README.md", "blocks/README.md")
FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>```+|~~~+)(?P<lang>[\w+-]*)\s*$")
NOT_RUN = re.compile(r"^\s*<!--\s*not run:\s*(?P<reason>.*?)\s*-->\s*$")
PRINTS = re.compile(r"\bprints:?\s*$")
SHELL_LANGS = {"bash", "sh", "console", "shell", "text", ""}


@dataclass
class Snippet:
    document: str
    line: int  # of the opening fence, 1-based
    lang: str
    heading: str
    index: int  # among the blocks under the same heading
    code: str
    not_run: Optional[str] = None  # the reason, when marked
    prints: Optional[str] = None  # its output: the plain block right after it, or after "prints"
    end: int = 0  # 0-based line of the closing fence

    @property
    def id(self) -> str:
        return f"{self.document}:{self.heading}#{self.index}"


def read_snippets(document: str) -> list[Snippet]:
    path = ROOT / document
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    snippets: list[Snippet] = []
    heading, per_heading, i = "(top)", {}, 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
        match = FENCE.match(line)
        if not match:
            i += 1
            continue
        indent, fence = match["indent"], match["fence"]
        body, j = [], i + 1
        while j < len(lines) and not (lines[j].strip() == fence and lines[j].startswith(indent)):
            body.append(lines[j][len(indent):] if lines[j].startswith(indent) else lines[j].lstrip())
            j += 1
        before = next((lines[k] for k in range(i - 1, -1, -1) if lines[k].strip()), "")
        marker = NOT_RUN.match(before)
        index = per_heading.get(heading, 0) + 1
        per_heading[heading] = index
        snippet = Snippet(document, i + 1, match["lang"].lower(), heading, index, "\n".join(body) + "\n",
                          not_run=marker["reason"] if marker else None)
        previous = snippets[-1] if snippets else None
        right_after = previous is not None and previous.end == i - 1  # the fence just closed above
        if previous and previous.lang == "python" and snippet.lang in ("", "text") and (right_after or PRINTS.search(before)):
            previous.prints = snippet.code
        if marker is None and re.search(r"<!--\s*not[ -]run", before):
            snippet.not_run = ""  # a malformed marker: refused below
        snippet.end = j
        snippets.append(snippet)
        i = j + 1
    return snippets


SNIPPETS = [s for d in DOCUMENTS for s in read_snippets(d)]
PYTHON = [s for s in SNIPPETS if s.lang in ("python", "py")]
YAML = [s for s in SNIPPETS if s.lang in ("yaml", "yml")]
COMMAND_LINE = re.compile(r"^\$ (?P<command>.+)$")


def shell_commands(snippet: Snippet) -> list[str]:
    """The commands of a shell block: ``$ ``-prefixed lines of a transcript, else every line of a
    ```bash/```console block that is not output; continuation lines and multi-line quotes joined."""
    lines = snippet.code.splitlines()
    transcript = any(COMMAND_LINE.match(line) for line in lines)
    if not transcript and snippet.lang not in ("bash", "sh", "shell"):
        return []
    commands, pending = [], None
    for line in lines:
        if pending is not None:
            pending += "\n" + line
        else:
            match = COMMAND_LINE.match(line) if transcript else re.match(r"^(?P<command>[^#\s].*)$", line)
            if not match:
                continue
            pending = match["command"]
        if pending.endswith("\\"):
            pending = pending[:-1]
            continue
        try:
            shlex.split(pending, comments=True)
        except ValueError:  # an open quote: the command goes on on the next line
            continue
        commands.append(pending)
        pending = None
    return commands


SHELL = [s for s in SNIPPETS if s.lang in SHELL_LANGS and shell_commands(s)]


def ids(snippets):
    return [s.id for s in snippets]


# -- what a snippet needs ------------------------------------------------------------------


def needs_slurm(code: str) -> bool:
    if "dask_jobqueue.SLURMCluster" in code:  # a Dask cluster of Slurm jobs
        return True
    return ".submit(" in code and "SlurmCluster(" in code and 'transport="subprocess"' not in code


SLOW_MARKERS = ("run_scan(", "run_model(", ".submit(", 'transport="subprocess"')


def python_params():
    params = []
    for snippet in PYTHON:
        marks = [pytest.mark.slow] if any(m in snippet.code for m in SLOW_MARKERS) and snippet.not_run is None else []
        params.append(pytest.param(snippet, marks=marks, id=snippet.id + (" on slurm" if needs_slurm(snippet.code) else "")))
    return params


@pytest.fixture
def user_dir(tmp_path):
    """A fresh working directory laid out like the project's root: what a user runs from."""
    work = tmp_path / "work"
    work.mkdir()
    for folder in ("flows", "blocks"):
        shutil.copytree(ROOT / folder, work / folder, ignore=shutil.ignore_patterns("__pycache__", "lume-data"))
    for snippet in YAML:  # the files the README has a user write
        name = written_file(snippet)
        if name:
            (work / name).write_text(snippet.code)
    return work


def written_file(snippet: Snippet) -> Optional[str]:
    """``NAME.yaml`` when a yaml block starts with ``# NAME.yaml:`` and the project has no such file."""
    match = re.match(r"^#\s*(?P<name>[\w.-]+\.ya?ml):", snippet.code)
    return match["name"] if match and not (ROOT / match["name"]).exists() else None


@pytest.fixture
def user_env(tmp_path, prefect_api):
    """The environment of a user's shell: the session's Prefect API, a fresh LUME_PREFECT_HOME,
    none of the tests' own settings."""
    from prefect.settings import PREFECT_API_URL

    env = {k: v for k, v in os.environ.items() if not k.startswith("LUME_") or k == "LUME_REQUIRE_COMPONENTS"}
    env.pop("PREFECT_TEST_MODE", None)  # test mode turns on debug logging in a child
    env.update(PREFECT_API_URL=PREFECT_API_URL.value(), PREFECT_LOGGING_LEVEL="WARNING",
               LUME_PREFECT_HOME=str(tmp_path / "lume-home"), COLUMNS="120")
    return env


def lume_imports(tree: ast.AST) -> list[tuple[str, str]]:
    """(module, name) of every ``from lume_prefect... import name`` and ``import lume_prefect...``."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "lume_prefect":
            found += [(node.module, alias.name) for alias in node.names]
        elif isinstance(node, ast.Import):
            found += [(alias.name, "") for alias in node.names if alias.name.split(".")[0] == "lume_prefect"]
    return found


def check_imports(code: str, where: str) -> int:
    tree = ast.parse(code)
    imports = lume_imports(tree)
    for module, name in imports:
        imported = importlib.import_module(module)
        if name and name != "*":
            assert hasattr(imported, name) or importlib.util.find_spec(f"{module}.{name}") is not None, (
                f"{where}: `from {module} import {name}`: {module} has no {name}"
            )
    return len(imports)


# -- python ----------------------------------------------------------------------------------


def test_the_documents_have_snippets_of_every_kind():
    assert len(PYTHON) >= 8 and len(SHELL) >= 10 and len(YAML) >= 2, (len(PYTHON), len(SHELL), len(YAML))
    marked = [s for s in SNIPPETS if s.not_run is not None]
    for snippet in marked:
        assert snippet.not_run.strip(), f"{snippet.id} (line {snippet.line}): `<!-- not run: REASON -->` needs its reason"
        assert snippet.lang in ("python", "py"), f"{snippet.id}: only python blocks are run, so only they are marked"
    assert len(marked) <= len(PYTHON) // 3, "most python snippets must run: " + ", ".join(ids(marked))


@pytest.mark.parametrize("snippet", python_params())
def test_python_snippet_runs_as_written(snippet: Snippet, request, tmp_path):
    where = f"{snippet.document} line {snippet.line} ({snippet.heading})"
    compile(snippet.code, where, "exec")
    check_imports(snippet.code, where)
    if snippet.not_run is not None:
        return  # compiled, imports resolved; the reason is checked above
    request.getfixturevalue("prefect_api")
    env, cwd = request.getfixturevalue("user_env"), request.getfixturevalue("user_dir")
    if needs_slurm(snippet.code):
        request.getfixturevalue("slurm_ready")
    if "LUME_REGISTRY_URL" in snippet.code:
        env["LUME_REGISTRY_URL"] = request.getfixturevalue("postgres_url")
    if "MLFLOW_TRACKING_URI" in snippet.code:
        env["MLFLOW_TRACKING_URI"] = request.getfixturevalue("mlflow_server").url
    script = tmp_path / "snippet.py"
    script.write_text(snippet.code)
    done = subprocess.run([sys.executable, str(script)], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{where} failed (exit {done.returncode}):\n{done.stdout}\n{done.stderr[-4000:]}"
    if snippet.prints is not None:
        shown, printed = normalize(snippet.prints, snippet), normalize(done.stdout, snippet)
        printed = [line for line in printed if not line.lstrip().startswith("For further information visit https://errors.pydantic.dev")]
        assert len(shown) == len(printed) and all(re.fullmatch(pattern(a), b) for a, b in zip(shown, printed)), (
            f"{where} printed other lines than the README shows:\n" + "\n".join(printed)
        )


def normalize(text: str, snippet: Snippet) -> list[str]:
    """Lines as compared: Slurm's job ids differ from run to run (and have any number of digits)."""
    lines = [line.rstrip() for line in text.strip().splitlines()]
    if needs_slurm(snippet.code):
        lines = [re.sub(r"(?<![\w.])\d+(?=_\d+\b)|(?<=\b[Jj]ob )\d+\b", "JOB", line) for line in lines]
    return lines


def pattern(shown: str) -> str:
    """A README output line as a regex: ``[...]`` and ``…`` stand for text left out."""
    return ".*".join(re.escape(part) for part in re.split(r"\[\.\.\.\]|…", shown))


@pytest.fixture
def slurm_ready():
    from tests.components import require

    if shutil.which("sbatch") is None or subprocess.run(["sinfo", "-h"], capture_output=True).returncode != 0:
        require("Slurm (sbatch, sinfo)", "scripts/start-slurm.sh")


@pytest.fixture
def postgres_url():
    from tests.databases import fresh_database

    with fresh_database("postgresql") as url:
        yield url


# -- shell -----------------------------------------------------------------------------------


def cli_command(command: str) -> Optional[list[str]]:
    """The arguments after ``lume-prefect`` (skipping ``VAR=value`` prefixes), or None."""
    words = shlex.split(command, comments=True)
    while words and re.match(r"^[A-Z_][A-Z0-9_]*=", words[0]):
        words = words[1:]
    if words[:1] == ["lume-prefect"]:
        return words[1:]
    if words[:3] == [sys.executable, "-m", "lume_prefect.cli"] or words[:3] == ["python", "-m", "lume_prefect.cli"]:
        return words[3:]
    return None


def python_c(command: str) -> Optional[str]:
    words = shlex.split(command, comments=True)
    while words and re.match(r"^[A-Z_][A-Z0-9_]*=", words[0]):
        words = words[1:]
    if len(words) >= 3 and re.match(r"^(python3?|\S*/python3?)$", words[0]) and words[1] == "-c":
        return words[2]
    return None


def resolve_cli(arguments: list[str]):
    """(path, App, the remaining arguments) of a command line, walking the cyclopts app."""
    from lume_prefect.cli import app

    node, path = app, []
    while arguments and not arguments[0].startswith("-"):
        commands = {n: sub for n, sub in node.resolved_commands().items() if sub is not node}
        if arguments[0] not in commands:
            break
        node = commands[arguments[0]]
        path.append(arguments.pop(0))
    return path, node, arguments


def option_names(node) -> set[str]:
    names = {"--help", "-h"}
    for argument in node.assemble_argument_collection():
        names.update(argument.names)
        names.update(getattr(argument, "negatives", ()) or ())
    return names


@pytest.mark.parametrize("snippet", SHELL, ids=ids(SHELL))
def test_shell_commands_exist(snippet: Snippet):
    where = f"{snippet.document} line {snippet.line} ({snippet.heading})"
    checked = 0
    for command in shell_commands(snippet):
        for word in shlex.split(command, comments=True):  # the project's files a command names exist
            path = re.match(r"^(?:\w+=)?((?:deployments|blocks|flows|scripts|benchmarks|tests)/[\w./-]+)", word)
            if path:
                assert (ROOT / path[1]).exists(), f"{where}: `{command}` names {path[1]}, which the project does not have"
        code = python_c(command)
        if code is not None:
            compile(code, where, "exec")
            checked += check_imports(code, where) or 1
            continue
        arguments = cli_command(command)
        if arguments is None:
            continue
        path, node, rest = resolve_cli(list(arguments))
        assert path, f"{where}: `lume-prefect {arguments[0]}` is not a command"
        assert node.default_command is not None or "--help" in rest, f"{where}: `lume-prefect {' '.join(path)}` needs a sub-command, got {rest[:1]}"
        known = option_names(node)
        for word in rest:
            if word == "--":
                break
            if word.startswith("-") and len(word) > 1 and not re.match(r"^-\d", word):
                name = word.split("=", 1)[0]
                assert name in known, f"{where}: `lume-prefect {' '.join(path)}` has no option {name} (it has {sorted(known)})"
        checked += 1
    mentioned = sum(bool(re.match(r"^(\w+=\S+ )*(lume-prefect|python3? -c) ", c)) for c in shell_commands(snippet))
    assert checked == mentioned, f"{where}: {mentioned - checked} lume-prefect or python -c commands were not understood"


def readonly_commands():
    """Distinct read-only command lines the documents show: run for real."""
    seen, params = set(), []
    for snippet in SHELL:
        for command in shell_commands(snippet):
            arguments = cli_command(command)
            if arguments is None:
                continue
            if arguments[:2] == ["profiles", "show"] or "--help" in arguments:
                key = tuple(arguments)
                if key not in seen:
                    seen.add(key)
                    params.append(pytest.param(snippet, command, id=f"{snippet.id}: {' '.join(arguments)}"))
    return params


@pytest.mark.parametrize("snippet,command", readonly_commands())
def test_readonly_commands_run(snippet: Snippet, command: str, user_env, user_dir):
    """``profiles show`` prints what the transcript shows (the README sets LUME_PREFECT_HOME first)."""
    env = dict(user_env)
    exports = re.findall(r"^\$ export (\w+)=(\S+)$", snippet.code, re.M)
    env.update(exports)
    arguments = cli_command(command)
    done = subprocess.run([sys.executable, "-m", "lume_prefect.cli", *arguments], cwd=user_dir, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{snippet.id}: `{command}` failed:\n{done.stdout}\n{done.stderr}"
    shown = transcript_output(snippet.code, command)
    if shown is not None and arguments[:2] == ["profiles", "show"]:
        assert done.stdout.strip().splitlines() == shown, f"{snippet.id}: `{command}` prints other lines than the README shows"


def transcript_steps(snippet: Snippet) -> list[tuple[str, list[str]]]:
    """(command, the lines shown after it) of a ``$ `` transcript, in order."""
    steps: list[tuple[str, list[str]]] = []
    commands = iter(shell_commands(snippet))
    lines, i = snippet.code.splitlines(), 0
    while i < len(lines):
        if not COMMAND_LINE.match(lines[i]):
            i += 1
            continue
        command = next(commands)
        i += command.count("\n") + 1
        shown = []
        while i < len(lines) and not COMMAND_LINE.match(lines[i]):
            shown.append(lines[i].rstrip())
            i += 1
        while shown and not shown[-1]:
            shown.pop()
        steps.append((command, shown))
    return steps


def transcript_output(code: str, command: str) -> Optional[list[str]]:
    """The lines a transcript shows after ``$ command``, up to the next command or blank line."""
    lines = code.splitlines()
    for i, line in enumerate(lines):
        if line == f"$ {command}":
            out = []
            for following in lines[i + 1:]:
                if following.startswith("$ ") or not following.strip():
                    break
                out.append(following.rstrip())
            return out
    return None


# Transcripts that need nothing but a fresh LUME_PREFECT_HOME and the Prefect API: run whole, in
# order, each command in a shell with the installed package first on PATH (an activated venv).
RUNNABLE_TRANSCRIPTS = ("Model registry", "Profiles: block documents as code")
DATE_OR_ID = re.compile(r"\d{4}-\d\d-\d\d|[0-9a-f]{8}-[0-9a-f]{4}|[┃│┏└]")


def transcript_params():
    params = []
    for snippet in SHELL:
        commands = shell_commands(snippet)
        runnable = all(cli_command(c) is not None or python_c(c) is not None or c.startswith("export ") for c in commands)
        if snippet.heading in RUNNABLE_TRANSCRIPTS and runnable and any(COMMAND_LINE.match(l) for l in snippet.code.splitlines()):
            params.append(pytest.param(snippet, id=snippet.id, marks=pytest.mark.slow))
    return params


@pytest.mark.parametrize("snippet", transcript_params())
def test_transcript_runs(snippet: Snippet, user_env, user_dir):
    """Every command exits as shown (``error:`` output: exit 1, else 0); a one-line output with no
    date, id or table is compared exactly, and lines naming the user's paths must appear."""
    env = dict(user_env, PATH=f"{Path(sys.executable).parent}{os.pathsep}{user_env['PATH']}", COLUMNS="250")
    for command, shown in transcript_steps(snippet):
        if command.startswith("export "):
            name, _, value = command.removeprefix("export ").partition("=")
            env[name] = value
            continue
        done = subprocess.run(["bash", "-c", command], cwd=user_dir, env=env, capture_output=True, text=True, timeout=180)
        expect_error = bool(shown) and shown[0].startswith("error:")
        where = f"{snippet.id}: `{command}`"
        assert (done.returncode != 0) == expect_error, f"{where} exited {done.returncode}:\n{done.stdout}\n{done.stderr[-3000:]}"
        printed = (done.stdout + done.stderr if expect_error else done.stdout).strip().splitlines()
        if (len(shown) == 1 or expect_error) and not DATE_OR_ID.search(shown[0]):
            assert re.fullmatch(pattern(shown[0]), printed[0].rstrip()), f"{where} printed {printed}, the README shows {shown}"
        if expect_error:  # every error line shown is printed
            assert [line for line in shown if line] == [line.rstrip() for line in printed if line.strip()], f"{where} printed {printed}"


# -- yaml ------------------------------------------------------------------------------------


EXCERPT = re.compile(r"^#\s*(?P<path>blocks/[\w.-]+\.ya?ml)\s*\(excerpt\)", re.M)


def subset(part, whole) -> bool:
    if isinstance(part, dict):
        return isinstance(whole, dict) and all(k in whole and subset(v, whole[k]) for k, v in part.items())
    return part == whole


@pytest.mark.parametrize("snippet", YAML, ids=ids(YAML))
def test_yaml_snippet_is_valid(snippet: Snippet, tmp_path):
    """A profile is validated with every variable it names set; an excerpt of a profile must be
    a part of that file, word for word, and the whole file must validate."""
    from lume_prefect.profiles import build_blocks, read_profile

    document = yaml.safe_load(snippet.code)
    assert isinstance(document, dict), f"{snippet.id}: not a mapping"
    if "blocks" in document:
        excerpt = EXCERPT.search(snippet.code)
        if excerpt:
            path = ROOT / excerpt["path"]
            assert subset(document, yaml.safe_load(path.read_text())), f"{snippet.id}: not an excerpt of {path.name} as it is"
            text = path.read_text()
        else:
            path = tmp_path / (written_file(snippet) or "profile.yaml")
            path.write_text(text := snippet.code)
        names = set(re.findall(r"\$\{(\w+)(?::-[^}]*)?\}", text))
        env = {name: f"dummy-{name.lower()}" for name in names}
        env.update({n: f"sqlite:///{tmp_path}/{n.lower()}.db" for n in names if n.endswith("_URL")})
        env.update({n: f"{tmp_path}/{n.lower()}" for n in names if n.endswith(("_DIR", "_WORKDIR", "_PATH"))})
        name = written_file(snippet)
        if name:  # a file the README has a user write, maybe to show its errors: each one shown is raised
            from lume_prefect.profiles import ProfileError

            readme = (ROOT / snippet.document).read_text(encoding="utf-8")
            shown = re.findall(rf"^(?:error: )?({re.escape(name)}: .+)$", readme, re.M)
            try:
                build_blocks(read_profile(path), env)
            except ProfileError as error:
                assert shown, f"{snippet.id}: {name} is refused but the README shows no error for it:\n{error}"
                raised = str(error).replace(str(path), name)
                assert all(line in raised for line in shown), f"{snippet.id}: {name} gives\n{raised}"
            else:
                assert not shown, f"{snippet.id}: {name} is accepted, though the README shows errors for it"
            return
        built = build_blocks(read_profile(path), env)
        assert set(document["blocks"]) <= set(built)
    elif "steps" in document:
        from lume_prefect.models import Pipeline

        pipeline = Pipeline.from_yaml(snippet.code)
        assert pipeline.name == document["name"] and len(pipeline.steps) == len(document["steps"])
    else:
        pytest.fail(f"{snippet.id}: a yaml block that is neither a profile nor a pipeline: check it here")


# -- where the public names live ---------------------------------------------------------------

SERVICE_PACKAGES = ("files", "registry", "results", "models", "scans", "slurm")


def names_table() -> list[tuple[str, str]]:
    """(module, name) of every ``from MODULE import A, B`` cell under the README's heading
    "Where the public names live"."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.find("## Where the public names live")
    assert start >= 0, 'README.md has no "## Where the public names live" section'
    section = text[start:]
    end = section.find("\n## ", 4)
    section = section[: end if end > 0 else None]
    found = []
    for module, names in re.findall(r"`from (lume_prefect[\w.]*) import ([^`]+)`", section):
        found += [(module, n.strip()) for n in names.split(",") if n.strip()]
    return found


def table_rows() -> list[tuple[str, list[str]]]:
    """(package, top-level names) of each row of the names table."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    rows = []
    for package, names in re.findall(r"^\| `(lume_prefect\.\w+)` \| `from lume_prefect import ([^`]+)`", text, re.M):
        rows.append((package, [n.strip() for n in names.split(",")]))
    return rows


def test_every_public_name_is_in_the_table_and_imports_as_written():
    import lume_prefect

    table = names_table()
    listed = set(table)
    for module, name in table:
        imported = importlib.import_module(module)
        assert hasattr(imported, name), f"README: `from {module} import {name}` fails"
        assert name in getattr(imported, "__all__", [name]), f"README: {name} is not in {module}.__all__"
    for package, names in table_rows():  # "every top-level name is also in its service's package"
        if package.removeprefix("lume_prefect.") in SERVICE_PACKAGES:
            exported = importlib.import_module(package).__all__
            assert not set(names) - set(exported), f"README: {sorted(set(names) - set(exported))} are not in {package}"
    listed |= {(package, n) for package, names in table_rows() for n in names}  # a row's top-level names are its package's too
    missing = [f"lume_prefect.{n}" for n in lume_prefect.__all__ if ("lume_prefect", n) not in listed]
    for package in SERVICE_PACKAGES:
        module = importlib.import_module(f"lume_prefect.{package}")
        missing += [f"lume_prefect.{package}.{n}" for n in module.__all__ if (f"lume_prefect.{package}", n) not in listed]
    assert not missing, "README's name tables leave out: " + ", ".join(missing)
