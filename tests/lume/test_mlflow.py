"""lume-torch models registered in MLflow by lume-torch's own ``register_to_mlflow`` (no
lume-prefect involved) are listed, promoted, run, scanned and reproduced by name and version or
alias, with their spec read from their variables; against a real ``mlflow server``."""

from __future__ import annotations

import pytest

from lume_prefect.models.errors import InvalidInput, NotALumeModel
from lume_prefect.models.plain import import_entrypoint
from lume_prefect.models.reproduce import reproduce
from lume_prefect.models.run import run_model
from lume_prefect.scans import run_scan

pytestmark = [pytest.mark.prefect, pytest.mark.slow]
POINT = {"x": 0.25, "QUAD:IN20:425:BCTRL": 0.5}


def expected(x: float, q: float) -> float:
    return 2 * x + 3 * q + 1


@pytest.fixture
def mlflow_services(mlflow_server, tmp_path):
    from pydantic import SecretStr

    from lume_prefect.files import LocalFiles
    from lume_prefect.registry import MLflowRegistry
    from lume_prefect.results import SQLResults
    from lume_prefect.services import LumeServices
    from tests.registry.conftest import _wipe_mlflow

    _wipe_mlflow(mlflow_server.url)
    home = tmp_path / "services"
    home.mkdir()
    name = f"mlflow-services-{tmp_path.name[-12:]}".replace("_", "-").lower()
    LumeServices(
        files=LocalFiles(basepath=str(home / "files")), registry=MLflowRegistry(tracking_uri=mlflow_server.url),
        results=SQLResults(url=SecretStr(f"sqlite:///{home / 'results.db'}")),
    ).save(name, overwrite=True, _sync=True)
    return LumeServices.load(name, _sync=True)


def register_with_lume_torch(source, url, monkeypatch, tmp_path, **options):
    """What a model author does: lume-torch's register_to_mlflow, MLflow's own environment."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
    monkeypatch.chdir(tmp_path)  # register_to_mlflow writes its dump to the working directory
    model = import_entrypoint("surrogate.py:make_surrogate", str(source))()
    # pip_requirements given: MLflow would otherwise infer them in a subprocess
    return model.register_to_mlflow("model", registered_model_name="surrogate", pip_requirements=["lume-torch"], **options)


def test_a_model_registered_with_register_to_mlflow_runs_scans_and_reproduces(
    mlflow_server, mlflow_services, torch_source, monkeypatch, tmp_path,
):
    register_with_lume_torch(torch_source, mlflow_server.url, monkeypatch, tmp_path, alias="live", tags={"stage": "demo"})
    register_with_lume_torch(torch_source, mlflow_server.url, monkeypatch, tmp_path)
    registry = mlflow_services.registry
    assert [v.version for v in registry.list_versions("surrogate")] == ["2", "1"]
    assert registry.get_model("surrogate").tags == {"stage": "demo"}

    run = run_model("surrogate", POINT, services=mlflow_services)  # the live alias lume-torch set
    assert run.version == "1" and run.outputs["y"] == pytest.approx(expected(0.25, 0.5))
    assert run_model("surrogate", POINT, version="@live", services=mlflow_services).cached
    assert run_model("surrogate", POINT, version="2", services=mlflow_services).version == "2"

    registry.promote("surrogate", "2", by="operator")
    scan = run_scan("surrogate", {"x": [0.0, 0.5, 1.0], "QUAD:IN20:425:BCTRL": [0.2]}, services=mlflow_services, progress=False)
    assert scan.version == "2" and scan.points == 3
    assert list(scan.frame["outputs.y"]) == pytest.approx([expected(x, 0.2) for x in (0.0, 0.5, 1.0)])
    assert registry.revert("surrogate").to_version == "1"

    again = reproduce(run.result.key, services=mlflow_services)
    assert again.matches and again.rerun.version == "1"
    with pytest.raises(InvalidInput, match="model 'surrogate': input 'x'"):  # the spec from the model's variables
        run_model("surrogate", {"x": 7.0, "QUAD:IN20:425:BCTRL": 0.5}, services=mlflow_services)


def test_a_version_without_a_lume_model_is_refused_naming_it(mlflow_server, mlflow_services, tmp_path):
    from mlflow import MlflowClient

    client = MlflowClient(mlflow_server.url, mlflow_server.url)
    client.create_registered_model("plain")
    run = client.create_run(client.create_experiment(f"plain-{tmp_path.name}"))
    (tmp_path / "weights.txt").write_text("not a LUME model")
    client.log_artifact(run.info.run_id, str(tmp_path / "weights.txt"))
    client.create_model_version("plain", run.info.artifact_uri, run_id=run.info.run_id)
    mlflow_services.registry.promote("plain", "1")
    with pytest.raises(NotALumeModel, match="'plain' version '1'.*no lume-torch model YAML"):
        run_model("plain", {}, services=mlflow_services)


def test_a_version_registered_by_lume_prefect_runs_where_its_source_is_gone(mlflow_services, torch_source):
    """The source was uploaded with the version: a worker without the checkout runs the MLflow copy."""
    import shutil

    from lume_prefect.models.deploy import register_model_version

    assert register_model_version("model.yml", str(torch_source), name="surrogate", version="1.0.0", services=mlflow_services)
    mlflow_services.registry.promote("surrogate", "1.0.0", _sync=True)
    assert run_model("surrogate", POINT, services=mlflow_services).outputs["y"] == pytest.approx(expected(0.25, 0.5))
    shutil.rmtree(torch_source)  # as on a Slurm node or worker that never had it
    fetched = mlflow_services.registry.live_version("surrogate")
    assert fetched.source != str(torch_source)
    again = run_model("surrogate", {"x": 0.5, "QUAD:IN20:425:BCTRL": 0.5}, services=mlflow_services)
    assert again.outputs["y"] == pytest.approx(expected(0.5, 0.5))
