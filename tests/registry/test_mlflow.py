"""The registry on a real MLflow server: what MLflow users see, sources for other machines,
faults (unreachable server, refused names, a crashed lock holder), models registered by others.
The registry interface itself is tested on every backend, MLflow included, by test_registry."""

from __future__ import annotations

import json
import time

import pytest

from lume_prefect.registry import InvalidValue, NoLiveVersion, RegistryUnreachable
from lume_prefect.registry.mlflow_store import LOCK_SUFFIX, MLflowStore
from tests.components import free_port
from tests.registry.conftest import row_counts

META = {"author": "Jane Doe", "laboratory": "SLAC", "facility": "LCLS", "beampath": "cu_hxr"}
PASSWORD = "pw-that-must-never-show"


@pytest.fixture
def mlflow_url(mlflow_server):
    from tests.registry.conftest import _wipe_mlflow

    _wipe_mlflow(mlflow_server.url)
    return mlflow_server.url


@pytest.fixture
def client(mlflow_url):
    from mlflow import MlflowClient

    return MlflowClient(mlflow_url, mlflow_url)


def test_mlflow_users_see_metadata_versions_live_alias_and_history(mlflow_url, client, tmp_path):
    registry = MLflowStore(mlflow_url)
    registry.register_model("injector", **META, description="surrogate", tags={"kind": "surrogate"})
    registry.register_version(
        "injector", "1.0", source="injector==1.0", entrypoint="injector.flow:run", sha256="ab" * 32,
        image="ghcr.io/lume/injector:1", by="alice",
    )
    registry.register_version("injector", "1.1", source="injector==1.1", entrypoint="injector.flow:run", by="bob")
    registry.set_deployment("injector", "1.1", deployment_name="run/injector-1.1", deployment_id="0b5e0000-1111-4222-8333-944455556666")
    registry.promote("injector", "1.0", by="alice")
    registry.promote("injector", "1.1", by="bob")

    model = client.get_registered_model("injector")
    assert model.description == "surrogate"
    assert {k: model.tags[k] for k in ("lume.author", "lume.laboratory", "lume.facility", "lume.beampath", "kind")} == {
        "lume.author": "Jane Doe", "lume.laboratory": "SLAC", "lume.facility": "LCLS", "lume.beampath": "cu_hxr", "kind": "surrogate",
    }
    live = client.get_model_version_by_alias("injector", "live")
    assert live.tags["lume.version"] == "1.1" and live.tags["lume.entrypoint"] == "injector.flow:run"
    assert live.tags["lume.deployment_id"] == "0b5e0000-1111-4222-8333-944455556666" and live.tags["lume.source"] == "injector==1.1"
    first = client.get_model_version("injector", model.aliases["live"] - 1 if isinstance(model.aliases["live"], int) else str(int(model.aliases["live"]) - 1))
    assert first.tags["lume.sha256"] == "ab" * 32 and first.tags["lume.image"] == "ghcr.io/lume/injector:1"
    history = [json.loads(model.tags[k]) for k in sorted(model.tags) if k.startswith("lume.history.")]
    assert [(h["from"], h["to"], h["by"]) for h in history] == [(None, "1.0", "alice"), ("1.0", "1.1", "bob")]
    run = client.get_run(live.run_id)  # the version's run keeps its manifest
    manifest = json.loads(open(client.download_artifacts(run.info.run_id, "lume-version.json", str(tmp_path))).read())
    assert manifest["version"] == "1.1" and manifest["entrypoint"] == "injector.flow:run"


def test_live_alias_is_configurable(mlflow_url, client):
    registry = MLflowStore(mlflow_url, live_alias="champion")
    registry.register_model("injector", **META)
    registry.register_version("injector", "2.0", source="s", entrypoint="m:f")
    registry.promote("injector", "2.0")
    assert client.get_registered_model("injector").aliases == {"champion": client.get_model_version_by_alias("injector", "champion").version}
    assert registry.get_model("injector").aliases == {"live": "2.0"}
    assert registry.live_version("injector").version == "2.0"
    with pytest.raises(NoLiveVersion):
        MLflowStore(mlflow_url).live_version("injector")  # the default alias 'live' is not set


def test_a_local_source_is_fetched_from_mlflow_where_it_is_missing(mlflow_url, tmp_path):
    checkout = tmp_path / "checkout"
    (checkout / "pkg").mkdir(parents=True)
    (checkout / "pkg" / "flow.py").write_text("VALUE = 42\n")
    (checkout / ".git").mkdir()
    (checkout / ".git" / "config").write_text("secret-ish\n")
    registry = MLflowStore(mlflow_url)
    registry.register_model("mover", **META)
    registry.register_version("mover", "1.0", source=str(checkout), entrypoint="pkg/flow.py:run")
    assert registry.get_version("mover", "1.0").source == str(checkout)  # here: the checkout itself
    (checkout / "pkg" / "flow.py").unlink()
    (checkout / "pkg").rmdir()
    (checkout / ".git" / "config").unlink()
    (checkout / ".git").rmdir()
    checkout.rmdir()  # as on a worker or Slurm node that never had it
    fetched = registry.get_version("mover", "1.0").source
    assert fetched != str(checkout)
    assert open(f"{fetched}/pkg/flow.py").read() == "VALUE = 42\n"
    assert not (tmp_path / fetched / ".git").exists() and not __import__("os").path.exists(f"{fetched}/.git")


def test_unreachable_server_is_one_clear_error_within_the_timeout():
    port = free_port()  # nothing listens there
    registry = MLflowStore(f"http://127.0.0.1:{port}", username="lume", password=PASSWORD, timeout=2)
    started = time.monotonic()
    with pytest.raises(RegistryUnreachable, match=rf"registry at http://127.0.0.1:{port} is unreachable") as caught:
        registry.live_version("injector")
    assert time.monotonic() - started < 2.5
    assert PASSWORD not in str(caught.value)


def test_password_in_the_uri_is_refused_without_showing_it():
    from lume_prefect.registry.errors import InvalidRegistryURL

    with pytest.raises(InvalidRegistryURL, match=r"https://lume:\*\*\*@mlflow.example.org.*password field") as caught:
        MLflowStore(f"https://lume:{PASSWORD}@mlflow.example.org")
    assert PASSWORD not in str(caught.value)


@pytest.mark.parametrize(
    "call, field",
    [
        (lambda r: r.register_model("bad/name", **META), "model name 'bad/name'"),
        (lambda r: r.register_model("bad:name", **META), "model name 'bad:name'"),
        (lambda r: r.register_model("fine", **META, tags={"lume.author": "x"}), "tag key 'lume.author'"),
        (lambda r: r.register_model("fine", **META, tags={"a//b": "x"}), "tag key 'a//b'.*MLflow refuses"),
        (lambda r: r.set_alias("injector", "v2", "1.0"), "alias 'v2'.*MLflow refuses"),
    ],
)
def test_what_mlflow_refuses_is_refused_before_anything_is_written(mlflow_url, call, field):
    registry = MLflowStore(mlflow_url)
    registry.register_model("injector", **META)
    registry.register_version("injector", "1.0", source="s", entrypoint="m:f")
    before = row_counts(mlflow_url)
    with pytest.raises(InvalidValue, match=field):
        call(registry)
    assert row_counts(mlflow_url) == before


def test_a_crashed_lock_holder_does_not_block_promotion_forever(mlflow_url, client, monkeypatch):
    from lume_prefect.registry import mlflow_store

    registry = MLflowStore(mlflow_url)
    registry.register_model("injector", **META)
    registry.register_version("injector", "1.0", source="s", entrypoint="m:f")
    client.create_registered_model("injector" + LOCK_SUFFIX)  # left behind by a client that died
    monkeypatch.setattr(mlflow_store, "LOCK_LEASE", 1.0)
    time.sleep(1.2)
    assert registry.promote("injector", "1.0").to_version == "1.0"
    assert row_counts(mlflow_url)["locks"] == 0
    assert [m.name for m in registry.list_models()] == ["injector"]


def test_versions_registered_by_others_are_listed_and_promoted(mlflow_url, client, tmp_path):
    """A version made with MLflow's own client (no lume tags) is its MLflow number."""
    registry = MLflowStore(mlflow_url)
    registry.register_model("native", **META)
    experiment = client.create_experiment(f"others-{time.time_ns()}")  # experiments outlive the models wiped
    run = client.create_run(experiment)
    artifact = tmp_path / "model.txt"
    artifact.write_text("weights")
    client.log_artifact(run.info.run_id, str(artifact))
    made = client.create_model_version("native", run.info.artifact_uri, run_id=run.info.run_id)
    assert [v.version for v in registry.list_versions("native")] == [made.version]
    registry.promote("native", made.version, by="operator")
    assert client.get_model_version_by_alias("native", "live").version == made.version
    assert registry.live_version("native").registered_by
