"""LUME models from the command line: `lume-prefect deploy --name --version` and
`lume-prefect models register` with a lume-torch model.yml and a LUMEModel factory."""

from __future__ import annotations

import json

import pytest

from tests.lume.conftest import counter_source
from tests.models.test_cli import lume  # noqa: F401 - the CLI fixture

# each command is a fresh process that imports torch and lume-torch (about 10 s on a loaded machine)
pytestmark = [pytest.mark.prefect, pytest.mark.slow, pytest.mark.timeout(900)]


def test_deploy_and_run_a_torch_yaml_from_the_command_line(lume, torch_source):  # noqa: F811
    missing = lume("deploy", "model.yml", "--source", str(torch_source), "--no-deployment")
    assert missing.returncode == 1 and "a LUME model carries no name or version: give name and version" in missing.stderr, missing.stderr
    done = lume("deploy", "model.yml", "--source", str(torch_source), "--no-deployment", "--name", "surrogate", "--version", "1.0.0",
                "--facility", "LCLS")
    assert done.returncode == 0 and done.stdout.strip() == "registered", done.stderr
    model = lume.services.registry.get_model("surrogate", _sync=True)
    assert (model.facility, model.laboratory) == ("LCLS", "unspecified")
    lume.services.registry.promote("surrogate", "1.0.0", _sync=True)
    ran = lume("run", "surrogate", "-i", "x=0.5", "-i", "QUAD:IN20:425:BCTRL=0.5", "--json")
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout)["outputs"]["y"] == pytest.approx(3.5)


def test_models_register_a_lume_model_factory(lume, tmp_path):  # noqa: F811
    source = counter_source(tmp_path / "counter")
    done = lume("models", "register", "counter", "0.2.0", "--source", str(source), "--entrypoint", "counter.py:make_counter",
                "--lume", "--stateless")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "registered counter 0.2.0 (6 inputs, 4 outputs)"
    version = lume.services.registry.get_version("counter", "0.2.0", _sync=True)
    assert version.entrypoint.startswith("lume_prefect.lume.entry:lume_")
    from lume_prefect.lume.entry import LumeEntry

    assert LumeEntry.parse(version.entrypoint) == LumeEntry("counter.py:make_counter", "counter", "0.2.0", stateless=True)
