"""``lume-prefect registry copy``: SQL -> MLflow -> SQL with history, idempotent, run as users run it."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from lume_prefect.registry.stores import open_store
from tests.components import venv_script
from tests.registry.conftest import row_counts

META = {"author": "Jane Doe", "laboratory": "SLAC", "facility": "LCLS", "beampath": "cu_hxr"}
SCHEMA = {"type": "object", "properties": {"charge": {"type": "number"}}}


def copy(source: str, target: str) -> str:
    done = subprocess.run(
        [venv_script("lume-prefect"), "registry", "copy", "--from", source, "--to", target],
        capture_output=True, text=True, timeout=300, env={**os.environ, "COLUMNS": "250"},
    )
    assert done.returncode == 0, done.stderr + done.stdout
    return done.stdout


def fill(registry) -> None:
    registry.register_model("injector", **META, description="surrogate", tags={"kind": "surrogate"})
    registry.register_model("gun", **{**META, "beampath": "cu_inj"})
    for version in ("1.0", "1.9", "1.10"):
        registry.register_version(
            "injector", version, source=f"injector=={version}", entrypoint="injector.flow:run", sha256=version[-1] * 64,
            image=f"ghcr.io/lume/injector:{version}", parameters_schema=SCHEMA, by="alice",
        )
    registry.set_deployment("injector", "1.9", deployment_name="run/injector-1.9", deployment_id="0b5e6f1c-2d3a-4b5c-8d9e-0f1a2b3c4d5e")
    registry.promote("injector", "1.0", by="alice")
    registry.promote("injector", "1.9", by="bob")
    registry.promote("injector", "1.10", by="carol")
    registry.revert("injector", by="dave")
    registry.set_alias("injector", "staging", "1.10", by="erin")
    registry.remove_alias("injector", "staging", by="erin")


def snapshot(registry) -> dict:
    """Everything a user sees, without what a copy cannot keep (ids, registration times)."""
    seen = {}
    for model in registry.list_models():
        seen[model.name] = {
            "model": model.model_dump(exclude={"created_at"}),
            "versions": [v.model_dump(exclude={"registered_at", "deployed_at"}) for v in registry.list_versions(model.name)],
            "history": [
                (h.alias, h.from_version, h.to_version, h.action, h.changed_by, h.changed_at.replace(microsecond=0))
                for h in registry.history(model.name)
            ],
        }
    return seen


@pytest.fixture
def sql_urls(tmp_path):
    return f"sqlite:///{tmp_path / 'first.db'}", f"sqlite:///{tmp_path / 'back.db'}"


def test_sql_to_mlflow_and_back_keeps_models_versions_aliases_and_history(mlflow_server, sql_urls):
    from tests.registry.conftest import _wipe_mlflow

    _wipe_mlflow(mlflow_server.url)
    first, back = sql_urls
    fill(open_store(first))
    expected = snapshot(open_store(first))

    out = copy(first, mlflow_server.url)
    assert f"-> {mlflow_server.url}: 2 models, 3 versions, 6 alias changes" in out
    assert snapshot(open_store(mlflow_server.url)) == expected
    mlflow = open_store(mlflow_server.url)
    assert mlflow.live_version("injector").version == "1.9"
    assert mlflow.revert("injector", by="frank").to_version == "1.0"  # the copied history drives revert
    expected = snapshot(mlflow)

    counts = row_counts(mlflow_server.url)
    assert "nothing copied" in copy(first, mlflow_server.url)  # idempotent ...
    assert row_counts(mlflow_server.url) == counts

    assert ": 2 models, 3 versions, 7 alias changes" in copy(mlflow_server.url, back)  # ... and back
    assert snapshot(open_store(back)) == expected
    counts = row_counts(back)
    assert "nothing copied" in copy(mlflow_server.url, back)
    assert row_counts(back) == counts


def test_a_different_history_in_the_target_is_refused(mlflow_server, sql_urls):
    from tests.registry.conftest import _wipe_mlflow

    _wipe_mlflow(mlflow_server.url)
    first, _ = sql_urls
    fill(open_store(first))
    target = open_store(mlflow_server.url)
    target.register_model("injector", **META)
    target.register_version("injector", "1.10", source="s", entrypoint="m:f")
    target.promote("injector", "1.10", by="someone else")
    done = subprocess.run(
        [venv_script("lume-prefect"), "registry", "copy", "--from", first, "--to", mlflow_server.url, "--json"],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 1
    assert "'injector': cannot copy, the target's alias history differs" in done.stdout + done.stderr
    assert [h.changed_by for h in target.history("injector")] == ["someone else"]


def test_json_output(mlflow_server, sql_urls):
    from tests.registry.conftest import _wipe_mlflow

    _wipe_mlflow(mlflow_server.url)
    first, _ = sql_urls
    open_store(first).register_model("gun", **META)
    done = subprocess.run(
        [venv_script("lume-prefect"), "registry", "copy", "--from", first, "--to", mlflow_server.url, "--json"],
        capture_output=True, text=True, timeout=300,
    )
    assert json.loads(done.stdout) == {"from": first, "to": mlflow_server.url, "models": ["gun"], "versions": 0, "history": 0}
