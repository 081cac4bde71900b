"""`lume-prefect deploy / run / pipelines` as a user runs them, against the session's Prefect API."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.models.test_lifecycle_in_process import PIPELINE_YAML

pytestmark = pytest.mark.prefect


@pytest.fixture
def lume(make_services):
    from prefect.settings import PREFECT_API_URL

    services = make_services()
    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value(), "LUME_SERVICES": services._block_document_name, "PREFECT_LOGGING_LEVEL": "WARNING"}
    env.pop("PREFECT_TEST_MODE", None)  # test mode turns on debug logging in the child

    def call(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "lume_prefect.cli", *args], capture_output=True, text=True, env=env, timeout=180)

    call.services = services
    return call


def test_deploy_run_and_pipelines_from_the_command_line(lume, toy_versions, tmp_path):
    registered = lume("deploy", "model.py:toy_beam", "--source", str(toy_versions["1.0.0"]), "--no-deployment")
    assert registered.returncode == 0 and registered.stdout.strip() == "registered", registered.stderr
    assert "EventsWorker" not in registered.stderr and "Traceback" not in registered.stderr, registered.stderr
    again = lume("deploy", "model.py:toy_beam", "--source", str(toy_versions["1.0.0"]), "--no-deployment")
    assert "already registered from the same source" in again.stdout
    lume.services.registry.promote("toy-beam", "1.0.0", _sync=True)

    first = lume("run", "toy-beam", "-i", "sigma_x=0.002", "-i", "drift_m=3", "--json")
    assert first.returncode == 0, first.stderr
    assert "Still processing items" not in first.stderr, first.stderr
    outcome = json.loads(first.stdout)
    assert outcome["version"] == "1.0.0" and outcome["cached"] is False and outcome["outputs"]["rms_x"] > 0.002
    second = lume("run", "toy-beam", "--inputs", '{"drift_m": 3.0, "sigma_x": 0.002}', "--json")
    assert json.loads(second.stdout)["cached"] is True
    assert json.loads(second.stdout)["flow_run_id"] == outcome["flow_run_id"]

    again = lume("results", "reproduce", outcome["key"], "--json")
    assert again.returncode == 0, again.stderr
    reproduced = json.loads(again.stdout)
    assert reproduced["matches"] is True and reproduced["flow_run_id"] != outcome["flow_run_id"]
    unknown = lume("results", "reproduce", "0" * 64)
    assert unknown.returncode == 1 and "0" * 64 in unknown.stderr, unknown.stderr

    bad = lume("run", "toy-beam", "-i", "sigma_x=2")
    assert bad.returncode == 1
    assert "error: model 'toy-beam': input 'sigma_x' = 2.0 is outside its range [1e-06, 0.1] m" in bad.stderr

    pipeline = tmp_path / "chain.yaml"
    only_registered = PIPELINE_YAML.replace("    version: 1.1.0\n", "")  # the CLI registered 1.0.0 alone
    pipeline.write_text(only_registered)
    done = lume("pipelines", "register", str(pipeline))
    assert done.returncode == 0 and "beam-chain 1.0.0: registered" in done.stdout, done.stderr
    ran = lume("pipelines", "run", "beam-chain", "--version", "1.0.0", "-i", "sigma_x=0.002", "--json")
    assert ran.returncode == 0, ran.stderr
    chained = json.loads(ran.stdout)
    assert chained["model"] == "beam-chain" and chained["outputs"]["final_rms_x"] > 0 and chained["cached"] is False
    rerun = json.loads(lume("pipelines", "run", "beam-chain", "--version", "1.0.0", "-i", "sigma_x=0.002", "--json").stdout)
    assert rerun["cached"] is True and rerun["outputs"] == chained["outputs"]
    not_a_pipeline = lume("pipelines", "run", "toy-beam")
    assert not_a_pipeline.returncode == 1 and "is a model, not a pipeline" in not_a_pipeline.stderr, not_a_pipeline.stderr
    pipeline.write_text(only_registered.replace("=first.rms_x", "=first.emittance"))
    refused = lume("pipelines", "register", str(pipeline))
    assert refused.returncode == 1 and "has no output 'emittance'" in refused.stderr, refused.stderr
    pipeline.write_text("steps: [unclosed")
    broken = lume("pipelines", "register", str(pipeline))
    assert broken.returncode == 1 and f"{pipeline} is not valid YAML" in broken.stderr
