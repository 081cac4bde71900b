"""Fresh databases on the real servers: SQLite (embedded), PostgreSQL and MariaDB on 127.0.0.1.

``fresh_database(backend)`` creates an empty database with a unique name, yields its
SQLAlchemy URL, and drops it afterwards. An unreachable server goes through ``require``:
a skip naming the script that starts it, or a failure in CI.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from tests.components import require

SQL_BACKENDS = ("sqlite", "postgresql", "mariadb")
START_SCRIPT = "scripts/ci-components.sh"
SERVER_URLS = {
    "postgresql": os.environ.get("LUME_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"),
    "mariadb": os.environ.get("LUME_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/"),
}


@contextmanager
def fresh_database(backend: str) -> Iterator[str]:
    """An empty database on ``backend``; yields its SQLAlchemy URL."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="lume-sqlite-") as directory:
            yield f"sqlite:///{directory}/test.db"
        return
    import sqlalchemy as sa

    server_url = sa.make_url(SERVER_URLS[backend])
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT", pool_pre_ping=True)
    try:
        with admin.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any connection failure means "not running"
        admin.dispose()
        require(f"{backend} at {server_url.render_as_string(hide_password=True)} ({type(exc).__name__})", START_SCRIPT)
    name = f"lume_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name}"))  # name is generated above, never user input
    try:
        yield server_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            if backend == "postgresql":
                conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            else:
                conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name}"))
        admin.dispose()
