"""A LUME model deployed and run by a real process worker on a real `prefect server start`:
the worker builds the model from the deployment's entrypoint in the version's source, and
PV-style input names travel as a deployment run's parameters."""

from __future__ import annotations

import uuid

import pytest

from lume_prefect.models.deploy import deploy_model
from lume_prefect.models.run import run_model
from tests.models.conftest import temp_services
from tests.models.test_deployments import pool_name, worker  # noqa: F401 - fixtures

pytestmark = pytest.mark.slow


def test_a_deployed_torch_yaml_runs_on_a_worker(real_api, worker, pool_name, torch_source, tmp_path):  # noqa: F811
    name = f"lume-remote-{uuid.uuid4().hex[:6]}"
    temp_services(tmp_path / "services", run_mode="remote", work_pool=pool_name).save(name, _sync=True)
    done = deploy_model("model.yml", str(torch_source), services=name, name="surrogate", version="1.0.0")
    assert (done.deployment_name, done.registered) == ("surrogate/1.0.0", True)
    run = run_model("surrogate", {"x": 0.75, "QUAD:IN20:425:BCTRL": 0.5}, version="1.0.0", services=name, timeout=240)
    assert run.mode == "remote" and run.outputs == {"y": pytest.approx(4.0)}
