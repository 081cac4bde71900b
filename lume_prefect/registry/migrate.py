"""The registry's Alembic migrations (``lume_prefect.core.sql.Migrations``), and the check
run on a registry's first use in a process.

``check_schema``: a database without registry tables is initialised to the latest revision;
an older one raises ``SchemaOutdated`` (the user runs ``lume-prefect registry upgrade``); one
we cannot place raises ``UnknownSchema``.
"""

from __future__ import annotations

import sqlalchemy as sa

from lume_prefect.core.sql import Migrations, safe_label
from lume_prefect.registry.errors import SchemaOutdated, UnknownSchema

# Our own version table, so a database shared with other Alembic users (the results store,
# an application) keeps their revisions apart.
VERSION_TABLE = "lume_registry_alembic_version"
REGISTRY_TABLES = ("lume_models", "lume_model_versions", "lume_model_aliases", "lume_model_alias_history")
MIGRATIONS = Migrations("lume_prefect.registry:migrations", VERSION_TABLE)


def head_revision() -> str:
    """The newest revision this lume-prefect ships."""
    return MIGRATIONS.head()


def revisions() -> list[str]:
    """Every shipped revision, oldest first."""
    return MIGRATIONS.revisions()


def current_revision(connection: sa.Connection) -> str | None:
    """The revision the database is at, or None if the registry was never created in it."""
    return MIGRATIONS.current(connection)


def upgrade(engine: sa.Engine, revision: str = "head") -> tuple[str | None, str]:
    """Migrate the database to ``revision`` (default: the latest); returns (before, after)."""
    return MIGRATIONS.upgrade(engine, revision, unknown=lambda rev: _unknown_revision(engine, rev))


def check_schema(engine: sa.Engine, label: str) -> None:
    """Make sure the database is at the latest revision; initialise it if it has no registry yet.

    Decided under the migration lock: a process finding a fresh database waits while another
    creates the registry (MariaDB's DDL is not transactional, so tables appear one by one).
    """
    with engine.connect() as connection:
        if current_revision(connection) == head_revision():
            return
    with MIGRATIONS.locked(engine) as connection, connection.begin():
        current = current_revision(connection)
        if current == head_revision():
            return
        if current is None:
            if set(sa.inspect(connection).get_table_names()).intersection(REGISTRY_TABLES):
                raise UnknownSchema(label, f"has registry tables but no {VERSION_TABLE} table; it was not made by lume-prefect migrations")
            MIGRATIONS.run(connection)  # fresh database: create the registry
            return
        if current in revisions():
            raise SchemaOutdated(label, current, head_revision())
        raise _unknown_revision(engine, current)


def _unknown_revision(engine: sa.Engine, revision: str) -> UnknownSchema:
    return UnknownSchema(safe_label(engine.url), f"is at schema revision {revision!r}, unknown to this lume-prefect (a newer release?)")
