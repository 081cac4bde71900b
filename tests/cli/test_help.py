"""Every ``lume-prefect`` command explains itself (issue 12.6): a description, help text for
each parameter, no stray generated flags, and tables that stay readable at 80 columns."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from lume_prefect.cli import app


def walk(application, path=()):
    """(path, App) of every command that runs something, depth first."""
    for name, sub in application.resolved_commands().items():
        if name in ("--help", "-h", "--version") or sub is application:
            continue
        if sub.default_command is not None:
            yield (*path, name), sub
        yield from walk(sub, (*path, name))


COMMANDS = list(walk(app))


def test_the_walk_finds_every_group():
    groups = {path[0] for path, _ in COMMANDS}
    assert {"files", "models", "registry", "results", "slurm", "profiles", "deploy", "run", "pipelines"} <= groups
    assert ("pipelines", "run") in {path for path, _ in COMMANDS}, "the top-level help promises pipelines run"
    assert len(COMMANDS) >= 30


@pytest.mark.parametrize("path,command", COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_every_command_and_parameter_has_help(path, command):
    assert command.help and command.help.strip(), f"{' '.join(path)} has no description"
    arguments = command.assemble_argument_collection(parse_docstring=True)
    for argument in arguments:
        if not argument.show:
            continue
        names = " ".join(argument.names)
        assert (argument.parameter.help or "").strip(), f"lume-prefect {' '.join(path)}: {names} has no help text"
        assert not any(n.startswith("--empty-") for n in argument.names), f"stray generated flag in {names}"


def test_help_prints_for_every_command_without_prefect_noise():
    """One real process: the help text as a user sees it, and no Prefect warnings after it."""
    env = dict(os.environ, COLUMNS="80")
    for path in [("run",), ("results", "reproduce"), ("deploy",), ("pipelines",)]:
        done = subprocess.run([sys.executable, "-m", "lume_prefect.cli", *path, "--help"], capture_output=True, text=True, env=env, timeout=120)
        assert done.returncode == 0, done.stderr
        assert "--empty-" not in done.stdout
        assert "EventsWorker" not in done.stderr and "Traceback" not in done.stderr


def test_tables_never_cut_values_at_80_columns(monkeypatch):
    from rich.console import Console

    from lume_prefect.cli import output

    narrow = Console(width=80, record=True, file=open(os.devnull, "w"))
    monkeypatch.setattr(output, "console", narrow)
    key = "dc0022e409971cf17bd2ae61f200fd1ef537e9b3d809cf22e46725e8ee96318a"
    wide_columns = ["key", "model", "version", "created"] + [f"inputs.quadrupole_{i}_k1" for i in range(8)] + ["outputs.emittance", "empty"]
    output.print_table("12 results", wide_columns, [[key, "injector-surrogate", "1.0.0", "2026-11-29T00:21:31", *range(8), 1.5e-6, None]])
    shown = narrow.export_text()
    assert "…" not in shown
    for value in [key, "injector-surrogate", "inputs.quadrupole_7_k1", "1.5e-06"]:
        assert value in shown  # printed whole, record by record
    assert "empty" not in shown  # a column empty in every row is left out

    narrow = Console(width=80, record=True, file=open(os.devnull, "w"))
    monkeypatch.setattr(output, "console", narrow)
    output.print_table("versions", ["version", "aliases", "registered", "source"], [["1.0.0", "live", "2026-11-29 00:20:44", "/srv/models/toy_beam"]])
    shown = narrow.export_text()
    assert "…" not in shown and "┃ version" in shown  # a table that nearly fits stays a table


@pytest.mark.unit
def test_a_json_option_that_is_not_a_json_object_is_one_line_naming_the_option(capsys):
    from lume_prefect.cli.output import json_object

    assert json_object('{"sigma_x": 0.002}', "--inputs", "EXAMPLE") == {"sigma_x": 0.002}
    for text, message in [("{sigma_x: 0.002}", "error: --inputs is not valid JSON (Expecting property name enclosed in double quotes"),
                          ("[1, 2]", "error: --inputs must be a JSON object, e.g. EXAMPLE, got '[1, 2]'")]:
        with pytest.raises(SystemExit) as exited:
            json_object(text, "--inputs", "EXAMPLE")
        assert exited.value.code == 1
        shown = capsys.readouterr().err
        assert shown.startswith(message) and len(shown.strip().splitlines()) == 1, shown
