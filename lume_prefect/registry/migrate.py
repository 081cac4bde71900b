"""The registry's Alembic migrations, run from code (no alembic.ini, no working directory).

``check_schema`` runs on a registry's first use: a database without registry tables is
initialised to the latest revision; an older one raises ``SchemaOutdated`` (the user runs
``lume-prefect registry upgrade``); one we cannot place raises ``UnknownSchema``.
Migrating holds a lock (a PostgreSQL advisory lock, a MariaDB named lock, SQLite's write
lock) so that processes starting together initialise a fresh database once.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from lume_prefect.registry.errors import SchemaOutdated, UnknownSchema

# Our own version table, so a database shared with other Alembic users (the results store,
# an application) keeps their revisions apart.
VERSION_TABLE = "lume_registry_alembic_version"
SCRIPT_LOCATION = "lume_prefect.registry:migrations"
REGISTRY_TABLES = ("lume_models", "lume_model_versions", "lume_model_aliases", "lume_model_alias_history")
_LOCK_NAME = "lume_registry_migrate"
_PG_LOCK_KEY = 0x6C756D65_7265  # "lumere": any fixed 64-bit number, the same in every process


def _config(connection: sa.Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    config.attributes["connection"] = connection
    return config


@lru_cache(maxsize=1)
def head_revision() -> str:
    """The newest revision this lume-prefect ships."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def revisions() -> list[str]:
    """Every shipped revision, oldest first."""
    script = ScriptDirectory.from_config(_config())
    return [rev.revision for rev in reversed(list(script.walk_revisions()))]


def current_revision(connection: sa.Connection) -> str | None:
    """The revision the database is at, or None if the registry was never created in it."""
    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()


@contextmanager
def _migration_lock(connection: sa.Connection) -> Iterator[None]:
    dialect = connection.dialect.name
    if dialect == "postgresql":
        connection.execute(sa.text("SELECT pg_advisory_lock(:key)"), {"key": _PG_LOCK_KEY})
    elif dialect in ("mysql", "mariadb"):
        got = connection.execute(sa.text("SELECT GET_LOCK(:name, 600)"), {"name": _LOCK_NAME}).scalar()
        if got != 1:
            raise TimeoutError("another process has held the registry migration lock for 10 minutes")
    # SQLite: the migration runs in one BEGIN IMMEDIATE transaction, which is the lock.
    connection.commit()
    try:
        yield
    finally:
        if dialect == "postgresql":
            connection.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": _PG_LOCK_KEY})
        elif dialect in ("mysql", "mariadb"):
            connection.execute(sa.text("SELECT RELEASE_LOCK(:name)"), {"name": _LOCK_NAME})
        connection.commit()


def upgrade(engine: sa.Engine, revision: str = "head") -> tuple[str | None, str]:
    """Migrate the database to ``revision`` (default: the latest); returns (before, after)."""
    with engine.connect() as connection:
        with _migration_lock(connection):
            with connection.begin():
                before = current_revision(connection)
                if before is not None and before not in revisions():
                    raise _unknown_revision(engine, before)
                command.upgrade(_config(connection), revision)
                after = current_revision(connection)
    assert after is not None
    return before, after


def check_schema(engine: sa.Engine, label: str) -> None:
    """Make sure the database is at the latest revision; initialise it if it has no registry yet."""
    with engine.connect() as connection:
        current = current_revision(connection)
        names = set(sa.inspect(connection).get_table_names())
    if current == head_revision():
        return
    if current is None:
        if names.intersection(REGISTRY_TABLES):
            raise UnknownSchema(label, f"has registry tables but no {VERSION_TABLE} table; it was not made by lume-prefect migrations")
        upgrade(engine)  # fresh database: create the registry (a racing process waits on the lock)
        return
    if current in revisions():
        raise SchemaOutdated(label, current, head_revision())
    raise _unknown_revision(engine, current)


def _unknown_revision(engine: sa.Engine, revision: str) -> UnknownSchema:
    label = engine.url.render_as_string(hide_password=True)
    return UnknownSchema(label, f"is at schema revision {revision!r}, unknown to this lume-prefect (a newer release?)")
