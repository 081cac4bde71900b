"""run_scan(executor="deployment") of a vectorized model: each batch a flow run of the version's
deployment on a real process worker of a real `prefect server start`, the model called once
for the batch there, the points stored by that run and read back by key."""

from __future__ import annotations

import uuid

import pytest

from lume_prefect import run_scan
from tests.lume.vectorized_model import VQUAD
from tests.models.conftest import real_api, temp_services  # noqa: F401 - the module's real server
from tests.scans.test_deployment_executor import pool_name, worker  # noqa: F401 - the pool's real worker

pytestmark = pytest.mark.slow


def test_a_vectorized_model_is_called_once_per_deployment_batch(worker, pool_name, tmp_path):  # noqa: F811
    from lume_prefect.models.deploy import deploy_model
    from lume_prefect.services import LumeServices

    services_name = f"vscan-{uuid.uuid4().hex[:6]}"
    model = f"vquad-{uuid.uuid4().hex[:6]}"
    source = tmp_path / "vquad"
    source.mkdir()
    (source / "model.py").write_text(VQUAD.format(name=model))
    temp_services(tmp_path / "services", work_pool=pool_name).save(services_name, _sync=True)
    deploy_model("model.py:vquad", str(source), services=services_name)
    services = LumeServices.load(services_name, _sync=True)
    services.registry.promote(model, "1.0.0", _sync=True)

    grid = {"k1": [-2.0, 1.0, 4.5, 3.0], "length": [0.1]}  # the second batch raises at k1 = 4.5: point by point
    scan = run_scan(model, grid, services=services_name, executor="deployment", batch_size=2, workers=2, timeout=240, progress=False)

    assert (scan.points, scan.computed, scan.failed, scan.batches) == (4, 3, 1, 2)
    assert scan.failures[0].index == 2 and "unstable lattice" in scan.failures[0].message
    batches = dict(zip(scan.frame["inputs.k1"], scan.frame["outputs.batch"]))
    assert batches[-2.0] == batches[1.0] == 2 and batches[3.0] == 1
    stored = services.results.store().get(scan.keys[0])
    assert stored.outputs["strength"] == pytest.approx(-0.2) and stored.outputs["profile"].shape == (3,)
