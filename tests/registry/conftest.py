"""Fixtures of the registry tests: a fresh database per test on each real backend."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from lume_prefect.registry import SQLRegistry
from lume_prefect.core.sql import dispose_engines
from lume_prefect.registry.schema import Base
from tests.databases import SQL_BACKENDS, fresh_database


@pytest.fixture(params=SQL_BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.fixture
def db_url(backend):
    """URL of an empty database on ``backend``; every registry engine is closed afterwards."""
    with fresh_database(backend) as url:
        yield url
        dispose_engines()


@pytest.fixture(scope="module", params=SQL_BACKENDS)
def shared_injector(request):
    """(registry, url): like ``injector`` but shared by a module's tests that must not write."""
    with fresh_database(request.param) as url:
        registry = SQLRegistry(url)
        registry.register_model("injector", author="Jane Doe", laboratory="SLAC", facility="LCLS", beampath="cu_hxr")
        for version in ("1.0", "1.9", "1.10"):
            registry.register_version("injector", version, source=f"injector=={version}", entrypoint="injector.flow:run")
        yield registry, url
        dispose_engines()


@pytest.fixture
def registry(db_url) -> SQLRegistry:
    return SQLRegistry(db_url)


@pytest.fixture
def injector(registry) -> SQLRegistry:
    """A registry holding model 'injector' with versions 1.0, 1.9 and 1.10."""
    registry.register_model("injector", author="Jane Doe", laboratory="SLAC", facility="LCLS", beampath="cu_hxr")
    for version in ("1.0", "1.9", "1.10"):
        registry.register_version("injector", version, source=f"injector=={version}", entrypoint="injector.flow:run")
    return registry


def row_counts(url: str) -> dict[str, int]:
    """Rows in every registry table, read through a separate engine."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return {
                name: conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
                for name, table in Base.metadata.tables.items()
            }
    finally:
        engine.dispose()
