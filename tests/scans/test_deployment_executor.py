"""run_scan(executor="deployment"): each batch a flow run of the version's deployment, run by a real
process worker of a real `prefect server start`, stored by the run itself and read back by key."""

from __future__ import annotations

import uuid

import pytest

from lume_prefect import run_scan
from tests.components import prefect_worker
from tests.models.conftest import real_api, temp_services  # noqa: F401 - the module's real server
from tests.scans.conftest import write_quad

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pool_name():
    return f"lume-scan-{uuid.uuid4().hex[:6]}"


@pytest.fixture(scope="module")
def worker(real_api, pool_name, tmp_path_factory):  # noqa: F811
    from lume_prefect.models.deploy import ensure_work_pool

    ensure_work_pool(pool_name)
    with prefect_worker(pool_name, real_api.env, tmp_path_factory.mktemp("scan-worker")) as process:
        yield process


def test_batches_run_as_deployment_runs_on_the_pool(worker, pool_name, tmp_path):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    from lume_prefect.models.deploy import deploy_model
    from lume_prefect.services import LumeServices

    name = f"scan-remote-{uuid.uuid4().hex[:6]}"
    model = f"quad-{uuid.uuid4().hex[:6]}"
    temp_services(tmp_path / "services", work_pool=pool_name).save(name, _sync=True)
    deployed = deploy_model("model.py:quad", str(write_quad(tmp_path / "quad", model)), services=name)
    services = LumeServices.load(name, _sync=True)
    services.registry.promote(model, "1.0.0", _sync=True)

    grid = {"k1": [-2.0, 1.0, 4.5], "length": [0.1, 0.2]}  # k1 = 4.5 fails
    scan = run_scan(model, grid, services=name, executor="deployment", batch_size=2, workers=2, timeout=240, progress=False)

    assert (scan.points, scan.computed, scan.failed, scan.batches) == (6, 4, 2, 3)
    assert {f.index for f in scan.failures} == {4, 5} and all("unstable lattice" in f.message for f in scan.failures)
    assert scan.frame.loc[0, "outputs.focal_length"] == pytest.approx(1 / (-2.0 * 0.1))
    store = services.results.store()
    assert store.count(tags=[scan.tag]) == 4
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployed.deployment_id])))
    assert len(runs) == 3 and all(run.state.is_completed() for run in runs)  # one run per batch, on the worker
    stored = store.get_many(scan.keys[:4])
    assert {r.flow_run_id for r in stored.values()} <= {run.id for run in runs}

    again = run_scan(model, grid, services=name, executor="deployment", batch_size=2, timeout=240, progress=False)
    assert (again.cached, again.computed, again.failed, again.batches) == (4, 0, 2, 1)  # only the failed ones run again


def test_a_version_without_deployment_is_refused(real_api, tmp_path):  # noqa: F811
    from lume_prefect.models import NotDeployed
    from lume_prefect.models.deploy import register_model_version

    name = f"scan-local-{uuid.uuid4().hex[:6]}"
    model = f"quad-{uuid.uuid4().hex[:6]}"
    temp_services(tmp_path / "services").save(name, _sync=True)
    register_model_version("model.py:quad", str(write_quad(tmp_path / "quad", model)), services=name)
    with pytest.raises(NotDeployed, match="has no Prefect deployment"):
        run_scan(model, {"k1": [1.0]}, version="1.0.0", services=name, executor="deployment", progress=False)


def test_a_model_with_a_required_input_runs_its_batches_as_deployment_runs(worker, pool_name, tmp_path):
    """The batch parameter is not in the deployment's schema and a batch run gives no input of its
    own, yet the server creates the run (the schema allows other properties; it requires k1)."""
    from prefect.client.orchestration import get_client

    from lume_prefect.models.deploy import deploy_model
    from lume_prefect.services import LumeServices

    name = f"scan-required-{uuid.uuid4().hex[:6]}"
    model = f"quad-{uuid.uuid4().hex[:6]}"
    source = write_quad(tmp_path / "quad", model)
    code = (source / "model.py").read_text()
    required = code.replace('"units": "1/m^2", "default": 0.0}', '"units": "1/m^2"}')
    assert required != code
    (source / "model.py").write_text(required)
    temp_services(tmp_path / "services", work_pool=pool_name).save(name, _sync=True)
    deployed = deploy_model("model.py:quad", str(source), services=name)
    LumeServices.load(name, _sync=True).registry.promote(model, "1.0.0", _sync=True)
    with get_client(sync_client=True) as client:
        schema = client.read_deployment(deployed.deployment_id).parameter_openapi_schema
    assert list(schema["properties"]) == ["k1", "length", "label"] and schema["required"] == ["k1"]

    scan = run_scan(model, {"k1": [-2.0, 1.0, 4.5]}, services=name, executor="deployment", batch_size=2, timeout=240, progress=False)
    assert (scan.points, scan.computed, scan.failed, scan.batches) == (3, 2, 1, 2)
    assert [f.index for f in scan.failures] == [2] and "unstable lattice" in scan.failures[0].message
