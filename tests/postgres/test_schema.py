"""The SQL tables as a PostgreSQL user sees them (issue 12.8): zoned times, jsonb, and an
index that serves ``find(inputs=...)``; an old database upgraded in place keeps its instants."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import sqlalchemy as sa

from lume_prefect.registry import SQLRegistry
from lume_prefect.results import Result, SQLResultsStore
from lume_prefect.results.sql import migrate as migrate_results
from tests.databases import fresh_database


def column_types(url: str, table: str) -> dict[str, str]:
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        rows = connection.execute(
            sa.text("SELECT column_name, data_type FROM information_schema.columns WHERE table_name = :t"), {"t": table}
        )
        types = dict(rows.all())
    engine.dispose()
    return types


def test_registry_times_are_zoned_and_the_schema_is_jsonb():
    with fresh_database("postgresql") as url:
        registry = SQLRegistry(url)
        registry.register_model("quad-scan", author="A", laboratory="L", facility="F", beampath="B")
        registry.register_version("quad-scan", "1.0", source="quad==1.0", entrypoint="q:run", parameters_schema={"type": "object"})
        assert column_types(url, "lume_model_versions")["registered_at"] == "timestamp with time zone"
        assert column_types(url, "lume_model_versions")["parameters_schema"] == "jsonb"
        assert column_types(url, "lume_models")["created_at"] == "timestamp with time zone"
        assert column_types(url, "lume_model_alias_history")["changed_at"] == "timestamp with time zone"
        version = registry.get_version("quad-scan", "1.0")
        assert version.registered_at.tzinfo is not None
        assert abs(version.registered_at - datetime.now(timezone.utc)) < timedelta(minutes=1)
        assert version.parameters_schema == {"type": "object"}


def test_results_times_survive_a_session_in_another_time_zone():
    with fresh_database("postgresql") as url:
        created = datetime(2026, 6, 1, 12, 30, tzinfo=timezone.utc)
        store = SQLResultsStore(url)
        result = Result(model="m", version="1", inputs={"x": 1.0}, outputs={"y": 2.0}, created=created)
        store.insert(result)
        assert column_types(url, "lume_results")["created"] == "timestamp with time zone"
        # a psql user in Tokyo sees the same instant, shown in their zone
        engine = sa.create_engine(url, connect_args={"options": "-c timezone=Asia/Tokyo"})
        with engine.connect() as connection:
            shown = connection.scalar(sa.text("SELECT created::text FROM lume_results"))
        engine.dispose()
        assert shown.startswith("2026-06-01 21:30:00+09")
        assert store.get(result.key).created == created
        assert [r.key for r in store.find(since=created - timedelta(seconds=1), until=created + timedelta(seconds=1))] == [result.key]
        store.close()


def test_find_by_inputs_is_served_by_an_index():
    with fresh_database("postgresql") as url:
        store = SQLResultsStore(url)
        store.insert_many([Result(model="m", version="1", inputs={"x": i, "k": f"q{i % 7}"}, outputs={"y": i}) for i in range(2000)])
        engine = sa.create_engine(url)
        with engine.connect() as connection:
            # with 2,000 rows a scan is cheaper; forbid it to see whether the index can serve
            connection.execute(sa.text("SET enable_seqscan = off"))
            from lume_prefect.results.store import Query
            statement = sa.select(sa.literal(1)).where(*store._conditions(Query.build(inputs={"x": 1234})))
            compiled = statement.compile(engine, compile_kwargs={"literal_binds": True})
            plan = "\n".join(connection.execute(sa.text(f"EXPLAIN {compiled}")).scalars())
        engine.dispose()
        assert "ix_lume_results_inputs" in plan, plan
        found = store.find(inputs={"x": 1234})
        assert [r.inputs["x"] for r in found] == [1234]
        assert {r.inputs["x"] for r in store.find(inputs={"k": "q3"})} == {i for i in range(2000) if i % 7 == 3}
        store.close()


def test_an_old_results_table_is_upgraded_in_place_keeping_its_instants():
    with fresh_database("postgresql") as url:
        engine = sa.create_engine(url)
        migrate_results(engine, "0001")  # as a release with only the first revision left it
        with engine.begin() as connection:
            connection.execute(sa.text(
                "INSERT INTO lume_results (key, model, version, created, tags, inputs, outputs, files)"
                " VALUES (repeat('a', 64), 'm', '1', '2026-01-02 03:04:05', '[]', '{\"x\": 1}', '{}', '[]')"
            ))
        engine.dispose()
        store = SQLResultsStore(url)
        assert store.count() == 1  # first use migrates to head
        assert column_types(url, "lume_results")["created"] == "timestamp with time zone"
        assert store.get("a" * 64).created == datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
        assert [r.key for r in store.find(inputs={"x": 1})] == ["a" * 64]
        store.close()
