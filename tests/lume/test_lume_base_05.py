"""lume-base 0.5 (what lume-pyat pins), not only the 0.6 of the test environment: the LUMEModel
of every variable kind registered and evaluated under lume-base 0.5.x from PyPI, installed once
per session into a temporary folder that a subprocess puts first on its path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from tests.lume.conftest import counter_source

pytestmark = pytest.mark.slow
REQUIREMENT = "lume-base==0.5.*"
UNREACHABLE = ("NewConnectionError", "Failed to establish a new connection", "Temporary failure in name resolution",
               "No matching distribution found", "Network is unreachable", "ConnectTimeout", "ReadTimeout")


@pytest.fixture(scope="session")
def lume_base_05(tmp_path_factory):
    """A folder holding lume-base 0.5.x alone (its dependencies are the environment's)."""
    target = tmp_path_factory.mktemp("lume-base-0.5")
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
                          "--target", str(target), REQUIREMENT], capture_output=True, text=True, timeout=600)
    if pip.returncode != 0:
        if any(sign in pip.stderr for sign in UNREACHABLE):
            pytest.skip(f"PyPI is unreachable: pip cannot install {REQUIREMENT} ({pip.stderr.strip().splitlines()[-1]})")
        raise AssertionError(f"pip install {REQUIREMENT} failed:\n{pip.stderr}")
    return target


SCRIPT = '''
import json, sys
from importlib.metadata import version

import numpy as np
from pydantic import SecretStr

from lume_prefect.files import LocalFiles
from lume_prefect.lume import lume_registration
from lume_prefect.models import InvalidInput
from lume_prefect.models.flows import using_services
from lume_prefect.models.plain import ModelCall, load_model_function
from lume_prefect.registry import ModelRegistry
from lume_prefect.results import SQLResults
from lume_prefect.services import LumeServices

source, files = sys.argv[1], sys.argv[2]
entrypoint, spec = lume_registration("counter.py:make_counter", source, name="counter", version="0.1.0")
_, function = load_model_function(entrypoint, source)
call = ModelCall(spec, function)
services = LumeServices(files=LocalFiles(basepath=files), registry=ModelRegistry(url=SecretStr(f"sqlite:///{files}/registry.db")),
                        results=SQLResults(url=SecretStr(f"sqlite:///{files}/results.db")))
with using_services(services):
    outputs, written = call(spec.validate_inputs({"gain": 12.0, "mode": "slow", "mask": np.full((4, 3), 0.5)}))
    again, _ = call(spec.validate_inputs({"gain": 12.0, "mode": "slow", "mask": np.full((4, 3), 0.5)}))
try:
    spec.validate_inputs({"mask": [1.0, 2.0, 3.0]})
    refused = ""
except InvalidInput as error:
    refused = str(error)
import lume
print(json.dumps({
    "lume-base": version("lume-base"), "lume": lume.__file__,
    "inputs": {v.name: [v.type, v.default if v.type != "array" else None, v.validation] for v in spec.inputs},
    "outputs": {v.name: v.type for v in spec.outputs},
    "count": [outputs["count"], again["count"]], "total": outputs["total"], "image": outputs["image"].tolist(),
    "warnings": spec.input_warnings({"gain": 12.0}), "files": [ref.serializer for ref in written], "refused": refused,
}))
'''


def test_a_lume_model_registers_and_evaluates_under_lume_base_05(lume_base_05, tmp_path):
    source = counter_source(tmp_path / "counter", "warn")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(lume_base_05), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
           "LUME_PREFECT_HOME": str(tmp_path / "home")}
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(SCRIPT), str(source), str(tmp_path / "files")],
                          capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got["lume-base"].startswith("0.5.") and got["lume"].startswith(str(lume_base_05))  # 0.5, not the environment's
    assert got["inputs"] == {
        "gain": ["float", 1.0, "warn"], "turns": ["int", 1, "none"], "enabled": ["bool", True, "none"], "label": ["str", "a", "none"],
        "mode": ["any", "fast", "error"], "mask": ["array", None, "none"],
    }
    assert got["outputs"] == {"count": "int", "total": "float", "image": "array", "beam": "particles"}
    assert got["count"] == [1, 1]  # reset before every point: the same outputs for the same inputs
    assert got["total"] == 12.0 * 2 + 1 and got["image"] == [[12.5] * 3] * 4
    assert got["warnings"] == ["input 'gain' = 12.0 is outside its range [0, 10] V"]
    assert got["files"] == ["openpmd"]  # the ParticleGroup output, written as openPMD HDF5
    assert "input 'mask' must have shape (4, 3), got shape (3,)" in got["refused"]
