"""A model run's own page (issue 19.2), read back through the Prefect client on the session's
API: its outputs as a table artifact with units, its result key (the 12 digits the logs show
and all 64) and its files; its Parameters without the internal ``lume_scan_batch``; and the
key the page shows is accepted back by ``results show`` and ``reproduce``."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

from lume_prefect.models.deploy import register_model_version
from lume_prefect.models.reproduce import reproduce
from lume_prefect.models.run import run_model

pytestmark = pytest.mark.prefect
TOY_BEAM_UNITS = {"rms_x": "m", "rms_px": "rad"}  # flows/toy_beam/model.py's outputs


def run_page(flow_run_id):
    """The flow run's parameters and its artifacts, as the UI reads them."""
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(flow_run_id)
        artifacts = client.read_artifacts(artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id])))
    return run.parameters, artifacts


def assert_outputs_on_run_page(flow_run_id, result, units: dict[str, str]) -> None:
    """The flow run's own page shows ``result``: one table artifact of its outputs with their
    ``units``, a description naming its key (12 digits and all 64) and linking its files."""
    _, artifacts = run_page(flow_run_id)
    [table] = [a for a in artifacts if a.type == "table"]
    assert table.key == f"{result.model}-outputs"
    rows = {row["output"]: row for row in json.loads(table.data)}
    assert {name: rows[name]["units"] for name in units} == units
    for name, value in result.outputs.items():
        if isinstance(value, float):
            assert float(rows[name]["value"]) == pytest.approx(value, rel=1e-5), name
    assert f"lume-prefect results show {result.key[:12]}" in table.description and result.key in table.description
    for ref in result.files:
        assert f"[{ref.path}]({ref.url})" in table.description


def test_an_in_process_run_shows_its_outputs_key_and_files_and_no_internal_parameter(make_services, toy_versions):
    services = make_services()
    register_model_version("model.py:toy_beam", str(toy_versions["1.0.0"]), services=services)
    services.registry.promote("toy-beam", "1.0.0", _sync=True)
    done = run_model("toy-beam", {"sigma_x": 2e-3, "save_particles": True}, services=services)
    key = done.result.key

    parameters, _ = run_page(done.flow_run_id)
    assert "lume_scan_batch" not in parameters
    assert parameters["sigma_x"] == 2e-3 and "drift_m" in parameters  # the model's inputs, defaults included
    assert len(done.result.files) == 1
    assert_outputs_on_run_page(done.flow_run_id, done.result, TOY_BEAM_UNITS)

    # the 12 digits on the page are accepted back, in the CLI and in Python
    env = {**os.environ, "LUME_RESULTS_URL": services.results.url.get_secret_value(), "COLUMNS": "250"}
    shown = subprocess.run([sys.executable, "-m", "lume_prefect.cli", "results", "show", key[:12], "--json"],
                           capture_output=True, text=True, env=env, timeout=300)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["key"] == key
    unknown = subprocess.run([sys.executable, "-m", "lume_prefect.cli", "results", "show", "0000ffff0000"],
                             capture_output=True, text=True, env=env, timeout=300)
    assert unknown.returncode == 1 and "no result with key '0000ffff0000'" in unknown.stderr
    again = reproduce(key[:12], services=services)
    assert again.matches and again.key == key

    parameters, _ = run_page(again.rerun.flow_run_id)
    assert "lume_scan_batch" not in parameters
