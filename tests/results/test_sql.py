"""SQL-specific behaviour: Alembic migrations, compact arrays, a connection killed mid-batch."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import sqlalchemy as sa
from pydantic import SecretStr

from lume_prefect.results import Result, SQLResultsStore, UnsupportedBackend
from lume_prefect.results.sql import TABLE, VERSION_TABLE, head_revision, metadata


def test_first_use_migrates_into_its_own_version_table(sql_store):
    engine = sql_store.engine
    with engine.connect() as connection:
        # Another application's Alembic history in the same database is left alone.
        connection.execute(sa.text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)"))
        connection.execute(sa.text("INSERT INTO alembic_version VALUES ('registry_0001')"))
        connection.commit()
        assert connection.scalar(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")) == head_revision()
    again = SQLResultsStore(sql_store._url)  # a second first use finds the schema current
    assert again.count() == 0
    again.close()
    with engine.connect() as connection:
        assert connection.scalar(sa.text("SELECT version_num FROM alembic_version")) == "registry_0001"


def test_migrations_create_exactly_the_schema_the_code_uses(sql_store):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    def on_this_backend(obj, name, type_, reflected, compare_to):
        # an index declared for one dialect only (ddl_if) exists only there
        only_on = getattr(getattr(obj, "_ddl_if", None), "dialect", None)
        return only_on is None or only_on == sql_store.engine.dialect.name

    with sql_store.engine.connect() as connection:
        opts = {"version_table": VERSION_TABLE, "include_object": on_this_backend}
        context = MigrationContext.configure(connection, opts=opts)
        differences = [d for d in compare_metadata(context, metadata) if "alembic" not in str(d)]
    assert differences == []


def test_arrays_are_stored_as_binary_not_json(sql_store):
    big = np.random.default_rng(1).normal(size=(100, 100))
    result = Result(model="m", version="1", outputs={"field": big})
    sql_store.insert(result)
    with sql_store.engine.connect() as connection:
        outputs, blobs = connection.execute(sa.text(f"SELECT outputs, blobs FROM {TABLE}")).one()
    assert len(str(outputs)) < 100
    assert big.nbytes <= len(blobs) < big.nbytes + 300


def test_url_is_secret_and_backend_checked():
    store = SQLResultsStore(SecretStr("postgresql+psycopg://lume:hunter2@127.0.0.1:1/lume"))
    assert "hunter2" not in repr(store) and "***" in repr(store)
    with pytest.raises(UnsupportedBackend, match="supports sqlite, postgresql, mysql, mariadb, got 'oracle'"):
        SQLResultsStore("oracle://scott:tiger@db/x")


def test_default_store_is_the_local_services_results_db_in_lume_prefect_home(tmp_path, monkeypatch):
    monkeypatch.setenv("LUME_PREFECT_HOME", str(tmp_path / "fresh" / "home"))  # a fresh data dir: created, parents too
    store = SQLResultsStore()
    store.insert(Result(model="m", version="1"))
    assert (tmp_path / "fresh" / "home" / "results.db").is_file()
    store.close()


def test_a_sqlite_store_in_a_missing_directory_is_one_clear_error_and_creates_nothing(tmp_path, monkeypatch):
    """A mistyped path must not start a new, empty store that looks like lost results."""
    from lume_prefect import MissingDatabaseDirectory
    from lume_prefect.results import SQLResults

    missing = tmp_path / "runs" / "typo"
    url = f"sqlite:///{missing}/results.db"
    for store in (SQLResultsStore(url), SQLResults(url=SecretStr(url)).store()):
        with pytest.raises(MissingDatabaseDirectory) as info:
            store.insert(Result(model="m", version="1"))
        assert str(info.value) == f"{url}: directory '{missing}' does not exist; create it first, or correct the URL"
        assert (info.value.url, info.value.directory) == (url, str(missing))
        assert list(tmp_path.iterdir()) == []  # no directory, no database file
    monkeypatch.chdir(tmp_path / "..")
    relative = f"{tmp_path.name}/runs/results.db"  # relative to the current directory, named absolute
    with pytest.raises(MissingDatabaseDirectory, match=f"sqlite:///{relative}: directory '{tmp_path}/runs' does not exist"):
        SQLResultsStore(f"sqlite:///{relative}").count()
    with pytest.raises(MissingDatabaseDirectory, match=r"directory '.*/~/lume' does not exist; .*SQLite does not expand '~'"):
        SQLResultsStore("sqlite:///~/lume/results.db").count()  # SQLite would open ./~/lume/results.db
    missing.mkdir(parents=True)  # the directory made: the same URL opens a new store there
    store = SQLResultsStore(url)
    store.insert(Result(model="m", version="1"))
    assert store.count() == 1 and (missing / "results.db").is_file()
    store.close()


@pytest.mark.slow
def test_connection_killed_mid_insert_many_is_retried_and_writes_every_row_once(sql_url):
    store = SQLResultsStore(sql_url)
    batch = [Result(model="m", version="1", inputs={"i": i}, outputs={"trace": np.arange(64.0) + i}) for i in range(30_000)]
    store.count()  # migrate before the race
    admin = sa.create_engine(sql_url, isolation_level="AUTOCOMMIT")
    killed: list[int] = []

    def kill_the_inserting_backend() -> None:
        deadline = time.monotonic() + 60
        with admin.connect() as connection:
            while not killed and time.monotonic() < deadline:
                pids = connection.scalars(
                    sa.text(
                        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                        "AND pid <> pg_backend_pid() AND state = 'active' AND query LIKE 'INSERT INTO lume_results%'"
                    )
                ).all()
                for pid in pids:
                    time.sleep(0.05)  # let a few statements of the batch commit to the transaction
                    connection.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
                    killed.append(pid)
                time.sleep(0.002)

    killer = threading.Thread(target=kill_the_inserting_backend)
    killer.start()
    try:
        # the killed transaction rolls back whole; the store retries it on a new connection
        # (lume_prefect/core/retry.py): the caller sees no error
        assert store.insert_many(batch) == [r.key for r in batch]
    finally:
        killer.join()
        admin.dispose()
    assert killed
    assert store.count() == len(batch)
    store.close()


def test_a_flow_runs_results_and_tags_are_found_through_indexes(sql_store):
    """Revision 0004: flow_run_id is indexed on every backend; on PostgreSQL find(tags=...)
    (JSONB containment) is answered by a GIN index, not a sequential scan."""
    import uuid

    run = uuid.uuid4()
    sql_store.insert_many([Result(model="m", version="1", inputs={"i": i}, outputs={"o": i}, tags=[f"t{i % 3}"], flow_run_id=run if i == 7 else None)
                           for i in range(30)])
    indexes = {index["name"]: index for index in sa.inspect(sql_store.engine).get_indexes(TABLE)}
    assert indexes["ix_lume_results_flow_run_id"]["column_names"] == ["flow_run_id"]
    by_run = sa.text(f"SELECT id FROM {TABLE} WHERE flow_run_id = :run")
    with sql_store.engine.connect() as connection:
        assert len(connection.execute(by_run, {"run": str(run)}).all()) == 1
        if sql_store.dialect == "sqlite":
            plan = " ".join(str(row) for row in connection.execute(sa.text(f"EXPLAIN QUERY PLAN {by_run.text}"), {"run": str(run)}))
            assert "ix_lume_results_flow_run_id" in plan, plan
    if sql_store.dialect != "postgresql":
        return
    assert "gin" in str(indexes["ix_lume_results_tags"].get("dialect_options", {})).lower()
    with sql_store.engine.connect() as connection:
        connection.execute(sa.text("SET enable_seqscan = off"))  # a 30-row table: make the planner show what it can use
        run_plan = " ".join(connection.scalars(sa.text(f"EXPLAIN {by_run.text}"), {"run": str(run)}))
        assert "ix_lume_results_flow_run_id" in run_plan, run_plan
        tags_plan = " ".join(connection.scalars(sa.text(f"""EXPLAIN SELECT id FROM {TABLE} WHERE tags @> '["t1"]'""")))
        assert "ix_lume_results_tags" in tags_plan, tags_plan
    assert sql_store.count(tags=["t1"]) == 10


def test_sqlite_bulk_rows_are_the_bytes_sqlalchemys_own_insert_writes(tmp_path):
    """The SQLite bulk path builds the driver's rows itself (columns, a reused JSON encoder);
    every stored column is the same bytes as SQLAlchemy's own insert of ``_row`` writes."""
    import uuid
    from datetime import datetime, timezone

    from lume_prefect.files.fileref import FileRef
    from lume_prefect.results.sql import _row, results_table
    from lume_prefect.results.store import trusted_results

    run = uuid.uuid4()
    moment = datetime(2026, 12, 7, 12, 0, 0, 123456, tzinfo=timezone.utc)
    inputs = [{"x": i * 0.1, "QUAD:IN20:425:BCTRL": 1e-5 * i, "n": i, "name": "é\u2603" if i % 2 else "a\"b\\c", "on": i % 3 == 0,
               "nested": {"v": [1.5, None, -0.0, 1e16], "t": (1, 2)}} for i in range(7)]
    outputs = [{"y": float("nan") if i == 3 else i / 7, "big": 2e300, "inf": float("-inf"), "arr": np.arange(i + 1.0)} for i in range(7)]
    files = [[FileRef(path=f"out/{i}.h5", serializer="hdf5", sha256="0" * 64, size=i)] if i % 2 else [] for i in range(7)]
    warnings = [[f"x outside range ({i})"] if i == 5 else [] for i in range(7)]
    results = trusted_results("bulk-bytes", "1.0.0", [Result(model="bulk-bytes", version="1.0.0", inputs=p).key for p in inputs],
                              inputs, outputs, files=files, tags=["scan:abc", "t2"], flow_run_id=run, created=moment, warnings=warnings)
    results.append(Result(model="bulk-bytes", version="1.0.0", inputs={"x": 9.0}, outputs={"y": 1.0}, created=moment))  # its own fields
    bulk, plain = SQLResultsStore(f"sqlite:///{tmp_path / 'bulk.db'}"), SQLResultsStore(f"sqlite:///{tmp_path / 'plain.db'}")
    bulk.insert_many(results)
    with plain.engine.begin() as connection:  # SQLAlchemy's insert and bind processing, row dicts
        connection.execute(results_table.insert(), [_row(r) for r in results])
    columns = ", ".join(c.name for c in results_table.columns)
    read = "SELECT " + ", ".join(f"typeof({c.name}), CAST({c.name} AS BLOB)" for c in results_table.columns) + " FROM lume_results ORDER BY id"
    with bulk.engine.connect() as a, plain.engine.connect() as b:
        got, expected = a.exec_driver_sql(read).all(), b.exec_driver_sql(read).all()
    assert len(got) == len(results) and got == expected, columns
    assert bulk.get_many([r.key for r in results]) == {r.key: r for r in results}
