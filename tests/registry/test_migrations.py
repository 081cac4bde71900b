"""Alembic migrations shipped in the package: first revision to head, outdated and foreign databases."""

from __future__ import annotations

from datetime import datetime

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from lume_prefect.registry import SchemaOutdated, SQLRegistry, UnknownSchema, migrate
from lume_prefect.core.sql import create_engine, dispose_engines
from lume_prefect.registry.schema import metadata
from tests.databases import SQL_BACKENDS


@pytest.fixture(params=SQL_BACKENDS)
def backend(request) -> str:
    """SQL only: these tests are about the database itself."""
    return request.param


def test_the_shipped_revisions():
    assert migrate.revisions() == ["0001", "0002", "0003", "0004"]
    assert migrate.head_revision() == "0004"


def test_fresh_database_is_initialised_on_first_use(registry):
    assert registry.schema_revision() == (None, "0004")
    assert registry.list_models() == []
    assert registry.schema_revision() == ("0004", "0004")


def test_migrations_build_exactly_the_schema(registry):
    registry.list_models()
    with registry.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"version_table": migrate.VERSION_TABLE, "compare_type": True})
        differences = compare_metadata(context, metadata)
    assert differences == []


def test_every_foreign_key_leads_an_index(registry):
    """Revision 0004: deleting a version cascades through the alias history, and a version's
    history is read by its foreign keys: none of those lookups scans a table."""
    registry.list_models()
    inspector = sa.inspect(registry.engine)
    for table in metadata.tables:
        indexed = [index["column_names"] for index in inspector.get_indexes(table)]
        indexed += [inspector.get_pk_constraint(table)["constrained_columns"]]
        indexed += [unique["column_names"] for unique in inspector.get_unique_constraints(table)]
        for fk in inspector.get_foreign_keys(table):
            columns = fk["constrained_columns"]
            assert any(list(cols[: len(columns)]) == columns for cols in indexed), f"{table}.{columns} (-> {fk['referred_table']}) has no index"


def _fill_first_revision(url: str) -> None:
    """Rows written by a lume-prefect that shipped only revision 0001, in its own SQL."""
    engine = create_engine(url)
    assert migrate.upgrade(engine, "0001") == (None, "0001")
    when = {"when": datetime(2025, 1, 2, 3, 4, 5)}  # naive UTC, as the registry stores times
    with engine.begin() as conn:
        def insert(sql: str, **params) -> None:
            conn.execute(sa.text(sql), {**when, **params})

        def scalar(sql: str, **params) -> int:
            return conn.execute(sa.text(sql), params).scalar_one()

        insert("INSERT INTO lume_models (name, author, laboratory, facility, beampath, description, created_at)"
               " VALUES ('injector', 'a', 'SLAC', 'LCLS', 'cu_hxr', '', :when)")
        model = scalar("SELECT id FROM lume_models WHERE name = 'injector'")
        insert("INSERT INTO lume_model_tags (model_id, tag, value) VALUES (:m, 'kind', 'surrogate')", m=model)
        ids = {}
        for version, key in [("1.0", "010011002020"), ("1.10", "0100110210002020")]:
            insert("INSERT INTO lume_model_versions (model_id, version, sort_key, source, entrypoint, parameters_schema,"
                   " registered_at, registered_by) VALUES (:m, :version, :key, 'src', 'm:f', NULL, :when, 'old')",
                   m=model, version=version, key=key)
            ids[version] = scalar("SELECT id FROM lume_model_versions WHERE version = :v", v=version)
        insert("INSERT INTO lume_model_aliases (model_id, alias, version_id) VALUES (:m, 'live', :v)", m=model, v=ids["1.10"])
        for before, after in [(None, ids["1.0"]), (ids["1.0"], ids["1.10"])]:
            insert("INSERT INTO lume_model_alias_history (model_id, alias, from_version_id, to_version_id, changed_at, changed_by)"
                   " VALUES (:m, 'live', :before, :after, :when, 'old')", m=model, before=before, after=after)
    engine.dispose()


def test_first_revision_to_head_keeps_every_row(db_url):
    _fill_first_revision(db_url)
    registry = SQLRegistry(db_url)
    with pytest.raises(SchemaOutdated, match=r"revision 0001.*run `lume-prefect registry upgrade`"):
        registry.get_model("injector")
    assert registry.upgrade() == ("0001", "0004")
    assert registry.upgrade() == ("0004", "0004")  # twice is harmless

    model = registry.get_model("injector")
    assert (model.tags, model.aliases) == ({"kind": "surrogate"}, {"live": "1.10"})
    assert [v.version for v in registry.list_versions("injector")] == ["1.10", "1.0"]
    assert registry.latest_version("injector").version == "1.10"
    assert registry.live_version("injector").deployment_name is None  # the column 0002 added
    assert registry.revert("injector").to_version == "1.0"  # history from 0001 drives revert
    assert registry.set_deployment("injector", "1.0", deployment_name="run/injector").deployment_name == "run/injector"


def test_sort_key_format_is_stable():
    """Keys are stored: a change of their format would silently misorder existing databases."""
    from lume_prefect.registry.versions import sort_key

    assert (sort_key("1.0"), sort_key("1.10")) == ("010011002020", "0100110210002020")


def test_database_from_a_newer_release_is_refused(registry):
    registry.list_models()
    with registry.engine.begin() as conn:
        conn.execute(sa.text(f"UPDATE {migrate.VERSION_TABLE} SET version_num = '0099'"))
    url = registry.engine.url
    dispose_engines()  # as in a new process: the schema is checked again
    fresh = SQLRegistry(url)
    with pytest.raises(UnknownSchema, match="revision '0099', unknown to this lume-prefect"):
        fresh.list_models()
    with pytest.raises(UnknownSchema, match="revision '0099'"):
        fresh.upgrade()


def test_tables_without_our_version_table_are_refused(db_url):
    engine = sa.create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE lume_models (id INTEGER PRIMARY KEY)"))
    engine.dispose()
    with pytest.raises(UnknownSchema, match="has registry tables but no lume_registry_alembic_version"):
        SQLRegistry(db_url).list_models()
