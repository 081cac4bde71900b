"""SQLite, round 2 (issue 21): a database file on a read-only mount, a full disk or under a
held write lock is one error naming the file and the cause, never SQL and its parameters; a
read-only mount is still read. Real filesystems: a tmpfs of 2 MiB and a read-only bind mount."""

from __future__ import annotations

import errno
import os
import pickle
import sqlite3
import threading
import time

import pytest

from lume_prefect.core.errors import SQLiteFileError
from lume_prefect.registry import SQLRegistry
from lume_prefect.results import Result
from lume_prefect.results.sql import SQLResultsStore


def results(n: int, start: int = 0, size: int = 0) -> list[Result]:
    return [Result(model="m", version="1.0.0", inputs={"i": i}, outputs={"pad": "p" * size}) for i in range(start, start + n)]


def test_a_read_only_mount_is_read_and_a_write_names_the_file(read_only_mount):
    source, view = read_only_mount
    store = SQLResultsStore(f"sqlite:///{source}/results.db")
    kept = results(3)
    store.insert_many(kept)
    registry = SQLRegistry(f"sqlite:///{source}/registry.db")
    registry.register_model("beam", author="a", laboratory="l", facility="f", beampath="b")
    store.close()
    from lume_prefect.core.sql import dispose_engines

    dispose_engines()  # a new process's view: nothing open on the file
    read_only = SQLResultsStore(f"sqlite:///{view}/results.db")
    assert read_only.count(model="m") == 3 and read_only.get(kept[0].key).inputs == {"i": 0}
    assert SQLRegistry(f"sqlite:///{view}/registry.db").get_model("beam").author == "a"
    with pytest.raises(SQLiteFileError) as info:
        read_only.insert_many(results(1, start=10))
    message = str(info.value)
    assert message.startswith(f"sqlite:///{view}/results.db: the database file is read-only here (a read-only mount")
    assert "INSERT" not in message and "[parameters" not in message
    assert info.value.errno == errno.EROFS and info.value.filename == f"{view}/results.db"
    assert isinstance(info.value, OSError) and str(pickle.loads(pickle.dumps(info.value))) == message
    assert SQLResultsStore(f"sqlite:///{source}/results.db").count(model="m") == 3


def test_a_full_disk_names_the_file_and_the_cause_not_the_sql(small_disk):
    store = SQLResultsStore(f"sqlite:///{small_disk}/results.db")
    store.insert_many(results(2))
    with pytest.raises(SQLiteFileError) as info:
        for start in range(100, 10_000, 100):  # ~100 kB a batch into a 2 MiB filesystem
            store.insert_many(results(100, start=start, size=1000))
    message = str(info.value)
    assert message.startswith(f"sqlite:///{small_disk}/results.db: the disk holding the database file is full"), message
    assert "INSERT" not in message and "parameters" not in message
    assert info.value.errno == errno.ENOSPC
    assert store.count(model="m") % 100 == 2  # whole batches only: the one that failed left nothing


def test_a_write_lock_held_past_the_busy_timeout_names_the_file_and_the_cause(tmp_path, monkeypatch):
    import lume_prefect.core.sql as core_sql

    monkeypatch.setattr(core_sql, "SQLITE_BUSY_TIMEOUT_S", 1)  # the same path as 60 s, in a second
    path = tmp_path / "results.db"
    store = SQLResultsStore(f"sqlite:///{path}")
    store.insert_many(results(1))
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process's long write transaction
    try:
        started = time.monotonic()
        with pytest.raises(SQLiteFileError) as info:
            store.insert_many(results(1, start=5))
        assert time.monotonic() - started < 10
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert str(info.value) == (
        f"sqlite:///{path}: another connection held the database's write lock for longer than the busy timeout (1 s) "
        f"(SQLite: database is locked; file {path})"
    )
    assert info.value.errno == errno.EBUSY
    store.insert_many(results(1, start=5))  # the lock released, writing works again
    assert store.count(model="m") == 2
