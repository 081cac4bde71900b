"""SQLite engines of ``core.sql``: WAL with synchronous=NORMAL (no fsync per commit), and a
committed write is still there when the process that wrote it dies without closing anything."""

from __future__ import annotations

import subprocess
import sys

import sqlalchemy as sa

from lume_prefect.core.sql import dispose_engines, sql_engine


def test_a_sqlite_writer_uses_wal_without_an_fsync_per_commit_and_keeps_foreign_keys(tmp_path):
    entry = sql_engine(f"sqlite:///{tmp_path / 'pragmas.db'}")
    try:
        with entry.writer.begin() as connection:
            pragmas = {name: connection.exec_driver_sql(f"PRAGMA {name}").scalar() for name in ("journal_mode", "synchronous", "foreign_keys")}
    finally:
        dispose_engines()
    assert pragmas == {"journal_mode": "wal", "synchronous": 1, "foreign_keys": 1}  # 1 = NORMAL


def test_a_committed_write_survives_its_process_dying(tmp_path):
    url = f"sqlite:///{tmp_path / 'crash.db'}"
    writer = f"""
import os
import sqlalchemy as sa
from lume_prefect.core.sql import sql_engine
entry = sql_engine({url!r})
with entry.writer.begin() as connection:
    connection.exec_driver_sql("CREATE TABLE kept (value TEXT)")
    connection.exec_driver_sql("INSERT INTO kept VALUES ('written')")
os._exit(0)  # dies at once: no close, no checkpoint of the WAL
"""
    subprocess.run([sys.executable, "-c", writer], check=True, timeout=60)
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("SELECT value FROM kept").scalars().all() == ["written"]
    finally:
        engine.dispose()
