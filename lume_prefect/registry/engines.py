"""SQLAlchemy engines for registry databases: one per URL per process, schema checked once.

- Every backend: ``pool_pre_ping`` so a connection the server dropped (restart, idle
  timeout, an administrator's kill) is replaced on checkout instead of failing a call.
- PostgreSQL and MariaDB: READ COMMITTED, so a transaction that waited for a row lock sees
  the change that the lock protected (MariaDB's default REPEATABLE READ would not).
- SQLite: WAL journal (readers never block the writer), foreign keys on, and writes in
  ``BEGIN IMMEDIATE`` transactions so concurrent writers queue on the busy timeout instead
  of failing when a read lock cannot be upgraded; other transactions are a plain ``BEGIN``.
  A single-statement read needs no transaction (SQLite runs each statement atomically):
  it goes through a second, plain engine, the ``reader``, which skips the BEGIN and the
  per-transaction event of the first (a third of the cost of a lookup).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

WRITE_OPTION = "lume_registry_write"
SQLITE_BUSY_TIMEOUT_S = 30


def default_registry_url() -> str:
    """``sqlite:///<data dir>/registry.db``; the data dir is ``$LUME_PREFECT_HOME`` or the user's data dir."""
    home = os.environ.get("LUME_PREFECT_HOME")
    if not home:
        import platformdirs

        home = platformdirs.user_data_dir("lume-prefect", appauthor=False)
    return f"sqlite:///{Path(home).expanduser().resolve() / 'registry.db'}"


def safe_label(url: str | sa.URL) -> str:
    """The URL with any password masked, for messages."""
    return sa.make_url(url).render_as_string(hide_password=True)


def _sqlite_events(engine: sa.Engine) -> None:
    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves, below
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        write = connection.get_execution_options().get(WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _sqlite_reader(url: sa.URL) -> sa.Engine:
    # pysqlite's own transaction handling never opens one for a SELECT: exactly what a
    # single-statement read needs, at the cost of a plain query.
    return sa.create_engine(url, pool_pre_ping=True, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})


def create_registry_engine(url: str | sa.URL) -> sa.Engine:
    """A new engine for a registry database, configured as described in this module."""
    url = sa.make_url(url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:" and not url.database.startswith("file:"):
            Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, pool_pre_ping=True, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})
        _sqlite_events(engine)
        return engine
    return sa.create_engine(url, pool_pre_ping=True, isolation_level="READ COMMITTED", pool_recycle=3600)


@dataclass
class RegistryEngine:
    """An engine, its writing twin (same pool), the engine for single-statement reads, and
    whether the schema was checked."""

    engine: sa.Engine
    writer: sa.Engine
    reader: sa.Engine
    label: str
    schema_checked: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)


_engines: dict[str, RegistryEngine] = {}
_engines_lock = threading.Lock()


def registry_engine(url: str | sa.URL) -> RegistryEngine:
    """The process-wide engine for ``url`` (created on first use)."""
    # Keyed by the URL as given: a block method call must not pay for parsing it again.
    key = url if isinstance(url, str) else url.render_as_string(hide_password=False)
    entry = _engines.get(key)
    if entry is None:
        with _engines_lock:
            entry = _engines.get(key)
            if entry is None:
                engine = create_registry_engine(key)
                writer = engine.execution_options(**{WRITE_OPTION: True})
                reader = _sqlite_reader(engine.url) if engine.dialect.name == "sqlite" else engine
                entry = _engines[key] = RegistryEngine(engine, writer, reader, safe_label(key))
    return entry


def dispose_engines() -> None:
    """Close every pooled connection (for tests, and after fork)."""
    with _engines_lock:
        for entry in _engines.values():
            entry.engine.dispose()
            entry.reader.dispose()
        _engines.clear()


def _after_fork_in_child() -> None:
    # A forked child must not share the parent's sockets: drop them without closing.
    for entry in list(_engines.values()):
        entry.engine.dispose(close=False)
        entry.reader.dispose(close=False)
    _engines.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
