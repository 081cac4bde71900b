"""Fixtures of the registry tests: a fresh registry per test on each real backend, SQL
(SQLite, PostgreSQL, MariaDB) and MLflow (a real ``mlflow server`` over HTTP)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from lume_prefect.core.sql import dispose_engines
from lume_prefect.registry.stores import is_mlflow_uri, open_store
from tests.databases import SQL_BACKENDS, fresh_database

REGISTRY_BACKENDS = (*SQL_BACKENDS, "mlflow")


@pytest.fixture(params=REGISTRY_BACKENDS)
def backend(request) -> str:
    return request.param


def _wipe_mlflow(url: str) -> None:
    """Delete every registered model of the server (lock models included)."""
    from mlflow import MlflowClient

    client = MlflowClient(url, url)
    for model in client.search_registered_models(max_results=1000):
        client.delete_registered_model(model.name)


@pytest.fixture
def db_url(backend, request):
    """URL of an empty registry on ``backend``; every registry engine is closed afterwards."""
    if backend == "mlflow":
        url = request.getfixturevalue("mlflow_server").url
        _wipe_mlflow(url)
        yield url
        return
    with fresh_database(backend) as url:
        yield url
        dispose_engines()


def _fill_injector(registry) -> None:
    registry.register_model("injector", author="Jane Doe", laboratory="SLAC", facility="LCLS", beampath="cu_hxr")
    for version in ("1.0", "1.9", "1.10"):
        registry.register_version("injector", version, source=f"injector=={version}", entrypoint="injector.flow:run")


@pytest.fixture(scope="module", params=REGISTRY_BACKENDS)
def _shared_database(request):
    """(registry, url) of a module's shared SQL database; None on MLflow (see shared_injector)."""
    if request.param == "mlflow":
        yield None
        return
    with fresh_database(request.param) as url:
        registry = open_store(url)
        _fill_injector(registry)
        yield registry, url
        dispose_engines()


@pytest.fixture
def shared_injector(_shared_database, request):
    """(registry, url): like ``injector`` but shared by a module's tests that must not write.
    On MLflow it is filled again for each test: other tests empty the session's server, and a
    server of its own would take longer to start than the refills take."""
    if _shared_database is not None:
        return _shared_database
    url = request.getfixturevalue("mlflow_server").url
    _wipe_mlflow(url)
    registry = open_store(url)
    _fill_injector(registry)
    return registry, url


@pytest.fixture
def registry(db_url):
    return open_store(db_url)


@pytest.fixture
def injector(registry):
    """A registry holding model 'injector' with versions 1.0, 1.9 and 1.10."""
    _fill_injector(registry)
    return registry


def row_counts(url: str) -> dict[str, int]:
    """What the registry holds (models, versions, aliases, history entries, user tags), read
    around the registry code: a separate engine, or MLflow's own client."""
    if is_mlflow_uri(url):
        return _mlflow_counts(url)
    tables = {"models": "lume_models", "versions": "lume_model_versions", "aliases": "lume_model_aliases",
              "history": "lume_model_alias_history", "tags": "lume_model_tags"}
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return {
                key: conn.execute(sa.select(sa.func.count()).select_from(sa.table(table))).scalar_one()
                for key, table in tables.items()
            }
    finally:
        engine.dispose()


def _mlflow_counts(url: str) -> dict[str, int]:
    from mlflow import MlflowClient

    client = MlflowClient(url, url)
    models = client.search_registered_models(max_results=1000)
    counts = {"models": 0, "versions": 0, "aliases": 0, "history": 0, "tags": 0, "locks": 0}
    for model in models:
        if model.name.endswith(" lume-lock"):
            counts["locks"] += 1
            continue
        counts["models"] += 1
        counts["versions"] += len(client.search_model_versions(f"name = '{model.name}'"))
        counts["aliases"] += len(model.aliases)
        counts["history"] += sum(1 for key in model.tags if key.startswith("lume.history."))
        counts["tags"] += sum(1 for key in model.tags if not key.startswith("lume."))
    return counts
