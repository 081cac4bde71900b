"""Faults on the real servers: connections killed by the server, transactions that fail half-way."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from lume_prefect.registry import NoLiveVersion
from tests.databases import SERVER_URLS, SQL_BACKENDS
from tests.registry.conftest import row_counts


@pytest.fixture(params=SQL_BACKENDS)
def backend(request) -> str:
    """SQL only: these tests are about the database itself."""
    return request.param


REFUSE = {
    "sqlite": [
        "CREATE TRIGGER refuse_{table} BEFORE INSERT ON {table} BEGIN SELECT RAISE(ABORT, 'refused by trigger'); END",
    ],
    "postgresql": [
        "CREATE FUNCTION refuse_{table}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'refused by trigger'; END $$",
        "CREATE TRIGGER refuse_{table} BEFORE INSERT ON {table} FOR EACH ROW EXECUTE FUNCTION refuse_{table}()",
    ],
    "mariadb": [
        "CREATE TRIGGER refuse_{table} BEFORE INSERT ON {table} FOR EACH ROW SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'refused by trigger'",
    ],
}


def refuse_inserts(backend: str, url: str, table: str) -> None:
    """Make the database itself reject every INSERT into ``table`` (a real trigger)."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for statement in REFUSE[backend]:
            conn.exec_driver_sql(statement.format(table=table))
    engine.dispose()


def allow_inserts(backend: str, url: str, table: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"DROP TRIGGER refuse_{table}" + (f" ON {table}" if backend == "postgresql" else ""))
    engine.dispose()


def test_failed_alias_change_leaves_no_partial_rows(injector, backend, db_url):
    before = row_counts(db_url)
    refuse_inserts(backend, db_url, "lume_model_alias_history")  # the 2nd statement of promote fails
    with pytest.raises(sa.exc.DBAPIError, match="refused by trigger"):
        injector.promote("injector", "1.9")
    assert row_counts(db_url) == before  # the alias row written just before was rolled back
    with pytest.raises(NoLiveVersion):
        injector.live_version("injector")
    allow_inserts(backend, db_url, "lume_model_alias_history")
    assert injector.promote("injector", "1.9").to_version == "1.9"


def test_failed_model_registration_leaves_no_model(registry, backend, db_url):
    registry.list_models()
    refuse_inserts(backend, db_url, "lume_model_tags")  # the model row goes in, its tags fail
    with pytest.raises(sa.exc.DBAPIError, match="refused by trigger"):
        registry.register_model("injector", author="a", laboratory="l", facility="f", beampath="b", tags={"k": "v"})
    assert row_counts(db_url)["models"] == 0
    assert registry.list_models() == []


# ---- connections killed by the server (PostgreSQL and MariaDB) ----------------------------


def backend_id(backend: str, dbapi_connection) -> int:
    return dbapi_connection.info.backend_pid if backend == "postgresql" else dbapi_connection.thread_id()


def kill_sessions(backend: str, url: str, only: int | None = None) -> int:
    """Terminate the server sessions on the database of ``url`` (or just session ``only``)."""
    database = sa.make_url(url).database
    admin = sa.create_engine(SERVER_URLS[backend], isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if backend == "postgresql":
            ids = conn.execute(
                sa.text("SELECT pid FROM pg_stat_activity WHERE datname = :db AND pid <> pg_backend_pid()"), {"db": database}
            ).scalars().all()
            for pid in ids if only is None else [only]:
                conn.execute(sa.text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": pid})
        else:
            ids = conn.execute(
                sa.text("SELECT id FROM information_schema.processlist WHERE db = :db AND id <> CONNECTION_ID()"), {"db": database}
            ).scalars().all()
            for session in ids if only is None else [only]:
                conn.exec_driver_sql(f"KILL {int(session)}")  # an id from the server, not user input
    admin.dispose()
    return len(ids)


@pytest.fixture(params=["postgresql", "mariadb"])
def server_backend(request) -> str:
    return request.param


@pytest.fixture
def server_db(server_backend):
    from lume_prefect.core.sql import dispose_engines
    from tests.databases import fresh_database

    with fresh_database(server_backend) as url:
        yield server_backend, url
        dispose_engines()


def test_connection_killed_between_calls_is_replaced(server_db):
    from lume_prefect.registry import SQLRegistry

    backend, url = server_db
    registry = SQLRegistry(url)
    registry.register_model("injector", author="a", laboratory="l", facility="f", beampath="b")
    with registry.engine.connect() as conn:
        before = backend_id(backend, conn.connection.dbapi_connection)

    # The fault is real: an engine without pre-ping fails on its killed connection.
    plain = sa.create_engine(url)
    with plain.connect() as conn:
        conn.execute(sa.text("SELECT 1"))
    assert kill_sessions(backend, url) >= 2
    with pytest.raises(sa.exc.OperationalError):
        with plain.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    plain.dispose()

    assert registry.get_model("injector").name == "injector"  # pre-ping replaced the dead connection
    with registry.engine.connect() as conn:
        assert backend_id(backend, conn.connection.dbapi_connection) != before


def test_connection_killed_inside_a_transaction_rolls_it_back(server_db):
    """The session dies after the alias row is written and before its history row: the server
    rolls the alias row back, the call is retried on a new connection, and each row is there once."""
    from lume_prefect.registry import SQLRegistry

    backend, url = server_db
    registry = SQLRegistry(url)
    registry.register_model("injector", author="a", laboratory="l", facility="f", beampath="b")
    registry.register_version("injector", "1.0", source="s", entrypoint="m:f")
    before = row_counts(url)
    killed = []

    def kill_before_history(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001
        if statement.startswith("INSERT INTO lume_model_alias_history") and not killed:
            killed.append(backend_id(backend, conn.connection.dbapi_connection))
            kill_sessions(backend, url, only=killed[0])

    sa.event.listen(registry.engine, "before_cursor_execute", kill_before_history)
    try:
        assert registry.promote("injector", "1.0").to_version == "1.0"
    finally:
        sa.event.remove(registry.engine, "before_cursor_execute", kill_before_history)
    assert killed, "the fault was not injected"
    after = row_counts(url)
    assert {table: after[table] - before[table] for table in after if after[table] != before[table]} == {
        "aliases": 1, "history": 1}
    assert registry.live_version("injector").version == "1.0"
    with registry.engine.connect() as conn:
        assert backend_id(backend, conn.connection.dbapi_connection) != killed[0]


def test_a_connection_lost_on_every_attempt_fails_when_the_retry_window_ends(server_db):
    """An outage longer than the window reaches the caller as the driver's error, naming the
    database, after the window (here 1 s; the stores use core.retry.RETRY_WINDOW_S)."""
    import time

    from lume_prefect.core.retry import retry_transient
    from lume_prefect.core.sql import safe_label

    backend, url = server_db
    engine = sa.create_engine(url, pool_pre_ping=True)

    class Store:
        label = safe_label(url)
        attempts = 0

        def ping(self) -> None:
            with engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))

        @retry_transient
        def reach(self) -> None:
            self.ping()

        def write(self) -> None:
            self.attempts += 1
            with engine.begin() as conn:
                kill_sessions(backend, url, only=backend_id(backend, conn.connection.dbapi_connection))
                conn.execute(sa.text("SELECT 1"))

    store = Store()
    store.reach()  # answered once: an outage of this database is worth waiting for
    failing = retry_transient(Store.write, window=1.0)
    started = time.monotonic()
    with pytest.raises(sa.exc.DBAPIError) as raised:
        failing(store)
    assert 1.0 <= time.monotonic() - started < 10
    assert store.attempts >= 3
    assert f"database: {store.label}" in raised.value.__notes__
    engine.dispose()
