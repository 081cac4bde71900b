"""The SQL foundation of the registry and the results store: engines and migrations.

Engines, one per URL per process (a forked child makes its own: sockets are not shared):
- every backend: ``pool_pre_ping``, so a connection the server dropped (restart, idle
  timeout, an administrator's kill) is replaced on checkout instead of failing a call;
- PostgreSQL and MariaDB/MySQL: READ COMMITTED, so a transaction that waited for a row lock
  sees the change the lock protected (MariaDB's default REPEATABLE READ would not);
- SQLite: the database file's directory must exist (``sqlite_directory``: only lume-prefect's
  data directory is created), WAL journal (readers never block the writer) with ``synchronous=NORMAL`` (SQLite's
  advice for WAL, and Prefect's server's setting: a commit does not wait for an fsync, ~1-2 ms;
  the last commits can roll back after a power loss or OS crash, never after a process crash,
  and the database stays consistent), foreign keys on, a busy timeout, and
  writes in ``BEGIN IMMEDIATE`` transactions (``SQLEngine.writer``) so concurrent writers
  queue on the timeout instead of failing when a read lock cannot be upgraded. A
  single-statement read needs no transaction: it goes through ``SQLEngine.reader``, a plain
  engine that skips the BEGIN and its event. A file SQLite cannot write (a read-only mount)
  is opened immutable, so reads still work; a write to it, a full disk or a write lock held
  past the busy timeout is ``SQLiteFileError`` naming the file and the cause, not the SQL.

Migrations (``Migrations``): Alembic from code, each schema with its own version table (so
one database can hold several), run under one lock per backend: a PostgreSQL advisory lock,
a MariaDB named lock, SQLite's write lock; processes starting together migrate once.
"""

from __future__ import annotations

import errno
import hashlib
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Optional

import sqlalchemy as sa

WRITE_OPTION = "lume_write"
SQLITE_BUSY_TIMEOUT_S = 60
MIGRATION_LOCK_TIMEOUT_S = 600
MYSQL_DIALECTS = ("mysql", "mariadb")


def safe_label(url: str | sa.URL) -> str:
    """The URL with any password masked, for messages."""
    return sa.make_url(url).render_as_string(hide_password=True)


def _in_memory(url: sa.URL) -> bool:
    return url.database in (None, "", ":memory:")


def _sqlite_events(engine: sa.Engine) -> None:
    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves, below
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        database = engine.url.database or ""
        if _in_memory(engine.url) or database.startswith("file:") or not os.path.exists(database) or _writable(database):
            cursor.execute("PRAGMA journal_mode=WAL")  # a file opened immutable (read-only) keeps its mode
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        write = connection.get_execution_options().get(WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


# SQLite's words for a file it cannot use, and what they mean for whoever reads the error
_SQLITE_CAUSES = (
    ("database or disk is full", errno.ENOSPC, "the disk holding the database file is full"),
    ("attempt to write a readonly database", errno.EROFS,
     "the database file is read-only here (a read-only mount, or no write permission on the file or its directory)"),
    ("unable to open database file", errno.EACCES, "the database file cannot be opened (missing permission, or a read-only directory)"),
    ("database is locked", errno.EBUSY, "another connection held the database's write lock for longer than the busy timeout ({timeout:g} s)"),
    ("disk I/O error", errno.EIO, "a disk I/O error on the database file"),
)


def _writable(path: str) -> bool:
    return os.access(path, os.W_OK) and os.access(os.path.dirname(path) or ".", os.W_OK)


def _sqlite_file_events(engine: sa.Engine, url: sa.URL) -> None:
    """On ``engine`` of a SQLite file: open it immutable when it cannot be written (reads of a
    read-only mount then work: WAL would need its -shm file), and report the file's troubles."""
    import sqlite3

    path = os.path.abspath(url.database or "")
    label = safe_label(url)

    @sa.event.listens_for(engine, "do_connect")
    def _connect(dialect: Any, record: Any, cargs: Any, cparams: dict[str, Any]) -> Any:
        if os.path.exists(path) and not _writable(path):
            from urllib.parse import quote

            options = {k: v for k, v in cparams.items() if k != "uri"}
            return sqlite3.connect(f"file:{quote(path)}?immutable=1", uri=True, **options)
        return None

    @sa.event.listens_for(engine, "handle_error")
    def _name_the_file(context: Any) -> None:
        text = str(context.original_exception)
        for words, code, cause in _SQLITE_CAUSES:
            if words in text:
                from lume_prefect.core.errors import SQLiteFileError

                detail = cause.format(timeout=SQLITE_BUSY_TIMEOUT_S)
                raise SQLiteFileError(label, path, f"{detail} (SQLite: {words}; file {path})", code) from None


def sqlite_directory(url: sa.URL) -> Path:
    """The directory of a SQLite file URL's database, which must exist; lume-prefect's data
    directory (``core.paths.data_dir()``, the embedded default location) is created if missing.

    Any other missing directory is ``MissingDatabaseDirectory`` naming the URL and the directory,
    and nothing is created: a mistyped path must not start a new, empty database.
    """
    from lume_prefect.core.errors import MissingDatabaseDirectory
    from lume_prefect.core.paths import data_dir

    # Where SQLite will open it: SQLAlchemy makes a relative path absolute and expands no "~"
    directory = Path(os.path.abspath(url.database or "")).parent
    if not directory.is_dir():
        if directory.resolve() != data_dir():
            raise MissingDatabaseDirectory(safe_label(url), str(directory))
        directory.mkdir(parents=True, exist_ok=True)
    return directory


def create_engine(url: str | sa.URL) -> sa.Engine:
    """A new engine for ``url``, configured as this module's docstring says."""
    url = sa.make_url(url)
    if url.get_backend_name() == "sqlite":
        if _in_memory(url):  # one shared connection, or every checkout would see a new database
            engine = sa.create_engine(url, poolclass=sa.StaticPool, connect_args={"check_same_thread": False})
        else:
            if not url.database.startswith("file:"):
                sqlite_directory(url)
            engine = sa.create_engine(url, pool_pre_ping=True, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})
            if not url.database.startswith("file:"):
                _sqlite_file_events(engine, url)
        _sqlite_events(engine)
        return engine
    return sa.create_engine(url, pool_pre_ping=True, isolation_level="READ COMMITTED", pool_recycle=3600)


def _sqlite_reader(url: sa.URL) -> sa.Engine:
    # pysqlite's own transaction handling never opens one for a SELECT: exactly what a
    # single-statement read needs, at the cost of a plain query.
    engine = sa.create_engine(url, pool_pre_ping=True, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})
    if not (url.database or "").startswith("file:"):
        _sqlite_file_events(engine, url)
    return engine


@dataclass
class SQLEngine:
    """An engine, its writing twin (same pool), the engine for single-statement reads, the
    URL with its password masked, and which schemas were checked in this process."""

    engine: sa.Engine
    writer: sa.Engine
    reader: sa.Engine
    label: str
    checked: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def ensure(self, migrations: Migrations, check: Any) -> None:
        """Run ``check(self)`` once per process for the schema of ``migrations``."""
        name = migrations.version_table
        if name not in self.checked:
            with self.lock:
                if name not in self.checked:
                    check(self)
                    self.checked.add(name)

    def dispose(self, close: bool = True) -> None:
        self.engine.dispose(close=close)
        if self.reader is not self.engine:
            self.reader.dispose(close=close)


_engines: dict[str, SQLEngine] = {}
_engines_lock = threading.Lock()


def sql_engine(url: str | sa.URL) -> SQLEngine:
    """The process-wide engine for ``url`` (created on first use)."""
    # Keyed by the URL as given: a call must not pay for parsing it again.
    key = url if isinstance(url, str) else url.render_as_string(hide_password=False)
    entry = _engines.get(key)
    if entry is None:
        with _engines_lock:
            entry = _engines.get(key)
            if entry is None:
                engine = create_engine(key)
                writer = engine.execution_options(**{WRITE_OPTION: True})
                sqlite_file = engine.dialect.name == "sqlite" and not _in_memory(engine.url)
                reader = _sqlite_reader(engine.url) if sqlite_file else engine
                entry = _engines[key] = SQLEngine(engine, writer, reader, safe_label(key))
    return entry


def dispose_engines() -> None:
    """Close every pooled connection and forget the engines (tests; a new process's view)."""
    with _engines_lock:
        for entry in _engines.values():
            entry.dispose()
        _engines.clear()


def _after_fork_in_child() -> None:
    # A forked child must not share the parent's sockets: drop them without closing.
    for entry in list(_engines.values()):
        entry.dispose(close=False)
    _engines.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


# ---- migrations ---------------------------------------------------------------------------


@contextmanager
def migration_lock(connection: sa.Connection, name: str) -> Iterator[None]:
    """Hold the lock called ``name`` on the connection's database while migrating.

    PostgreSQL: an advisory lock; MariaDB/MySQL: a named lock; SQLite: none here, the
    migration's own ``BEGIN IMMEDIATE`` transaction is the lock.
    """
    dialect = connection.dialect.name
    key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
    if dialect == "postgresql":
        connection.execute(sa.text("SELECT pg_advisory_lock(:key)"), {"key": key})
    elif dialect in MYSQL_DIALECTS:
        got = connection.execute(sa.text("SELECT GET_LOCK(:name, :wait)"), {"name": name, "wait": MIGRATION_LOCK_TIMEOUT_S}).scalar()
        if got != 1:
            raise TimeoutError(f"another process has held the migration lock {name!r} for {MIGRATION_LOCK_TIMEOUT_S} s")
    connection.commit()
    try:
        yield
    finally:
        if dialect == "postgresql":
            connection.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": key})
        elif dialect in MYSQL_DIALECTS:
            connection.execute(sa.text("SELECT RELEASE_LOCK(:name)"), {"name": name})
        connection.commit()


class Migrations:
    """One schema's Alembic migrations: ``script_location`` (a package path such as
    ``lume_prefect.registry:migrations``) and its own ``version_table``."""

    def __init__(self, script_location: str, version_table: str):
        self.script_location = script_location
        self.version_table = version_table

    def config(self, connection: Optional[sa.Connection] = None) -> Any:
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", self.script_location)
        config.attributes["connection"] = connection
        return config

    @cached_property
    def _script(self) -> Any:
        from alembic.script import ScriptDirectory

        return ScriptDirectory.from_config(self.config())

    @cached_property
    def _listed_head(self) -> Optional[str]:
        """The head read from the revision files' ``revision``/``down_revision`` lines: the
        revision no other names as its parent. Importing Alembic costs a store-only command
        more than its query (0.3-0.5 s); None (ask Alembic) when the files say anything else
        than one straight line of revisions."""
        import importlib.util
        import re

        package, _, folder = self.script_location.partition(":")
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            return None
        revisions: dict[str, Optional[str]] = {}
        for path in (Path(spec.submodule_search_locations[0]) / folder / "versions").glob("*.py"):
            text = path.read_text(encoding="utf-8")
            revision = re.search(r'^revision\b[^=\n]*=\s*"(\w+)"\s*$', text, re.M)
            parent = re.search(r'^down_revision\b[^=\n]*=\s*(?:None|"(\w+)")\s*$', text, re.M)
            if revision is None or parent is None:
                if path.name != "__init__.py":
                    return None
                continue
            revisions[revision[1]] = parent[1]
        heads = set(revisions) - set(revisions.values())
        return heads.pop() if len(heads) == 1 and len(set(revisions.values())) == len(revisions) else None

    def head(self) -> str:
        """The newest revision shipped."""
        head = self._listed_head or self._script.get_current_head()
        assert head is not None
        return head

    def revisions(self) -> list[str]:
        """Every shipped revision, oldest first."""
        return [rev.revision for rev in reversed(list(self._script.walk_revisions()))]

    def current(self, connection: sa.Connection) -> Optional[str]:
        """The revision the database is at; None if this schema was never created in it.

        Alembic's version table read with plain SQL (Alembic is imported only to migrate); a
        table holding several revisions (branches, which no lume schema has) is Alembic's to read.
        """
        if not sa.inspect(connection).has_table(self.version_table):
            return None
        table = sa.table(self.version_table, sa.column("version_num"))
        found = connection.execute(sa.select(table.c.version_num)).scalars().all()
        if len(found) > 1:
            from alembic.runtime.migration import MigrationContext

            return MigrationContext.configure(connection, opts={"version_table": self.version_table}).get_current_revision()
        return found[0] if found else None

    @contextmanager
    def locked(self, engine: sa.Engine) -> Iterator[sa.Connection]:
        """A connection holding this schema's migration lock (see ``migration_lock``).

        Give the writing engine (``SQLEngine.writer``): on SQLite its ``BEGIN IMMEDIATE``
        transaction is what serialises processes migrating together.
        """
        with engine.connect() as connection:
            with migration_lock(connection, self.version_table):
                yield connection

    def run(self, connection: sa.Connection, revision: str = "head") -> None:
        """Alembic's upgrade to ``revision`` on ``connection`` (inside its transaction)."""
        from alembic import command

        command.upgrade(self.config(connection), revision)

    def upgrade(
        self, engine: sa.Engine, revision: str = "head", unknown: Optional[Callable[[str], Exception]] = None
    ) -> tuple[Optional[str], str]:
        """Migrate to ``revision`` under the schema's lock; returns (before, after). A database
        at a revision this release does not ship raises ``unknown(revision)`` (default ValueError).
        """
        with self.locked(engine) as connection, connection.begin():
            before = self.current(connection)
            if before is not None and before not in self.revisions():
                if unknown is not None:
                    raise unknown(before)
                raise ValueError(f"{safe_label(engine.url)} is at revision {before!r}, unknown to this lume-prefect")
            self.run(connection, revision)  # a no-op if another process got there first
            after = self.current(connection)
        assert after is not None
        return before, after
