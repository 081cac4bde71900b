"""LUME models registered as they are and run through run_model and run_scan."""

from __future__ import annotations

import pytest

from lume_prefect.models.deploy import register_model_version
from lume_prefect.models.run import run_model

pytestmark = pytest.mark.prefect


def test_a_torch_yaml_registers_and_runs(make_services, torch_source):
    services = make_services()
    assert register_model_version("model.yml", str(torch_source), name="surrogate", version="1.0.0", services=services)
    services.registry.promote("surrogate", "1.0.0", _sync=True)
    run = run_model("surrogate", {"x": 0.25, "QUAD:IN20:425:BCTRL": 0.5}, services=services)
    assert run.outputs["y"] == pytest.approx(2 * 0.25 + 3 * 0.5 + 1)
