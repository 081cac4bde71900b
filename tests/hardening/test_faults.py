"""Faults that must be survived: killed writers leave nothing behind for long, a database
restart loses and duplicates nothing."""

from __future__ import annotations

import os
import subprocess
import uuid

import pytest
from prefect.settings import PREFECT_API_URL

from lume_prefect.files import LocalFiles, S3Files
from tests.components import venv_script
from tests.files.test_faults import kill_writer_midway


def temporaries(root) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if ".lume-tmp-" in p.name)


def lume(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value()}
    return subprocess.run([venv_script("lume-prefect"), *args], capture_output=True, text=True, env=env, timeout=120)


# ---- item 15: a local writer killed mid-write --------------------------------------------


@pytest.mark.unit
def test_killed_local_writer_temporary_is_removed_by_the_next_write_of_that_path(tmp_path):
    files = LocalFiles(basepath=str(tmp_path))
    files.write("run/state.bin", b"old")
    kill_writer_midway("local", {"basepath": str(tmp_path)}, "run/state.bin", chunks=8)
    assert len(temporaries(tmp_path)) == 1 and files.read("run/state.bin") == b"old"
    files.write("run/state.bin", b"new")
    assert temporaries(tmp_path) == []
    assert files.read("run/state.bin") == b"new"


@pytest.mark.unit
def test_a_live_writer_temporary_is_never_taken_for_stale(tmp_path):
    files = LocalFiles(basepath=str(tmp_path))
    with files.open("state.bin", "wb") as slow:
        slow.write(b"s" * 1000)
        files.write("state.bin", b"fast")  # a second writer of the same path meanwhile
        assert files.collect_garbage() == []
        assert len(temporaries(tmp_path)) == 1
    assert files.read("state.bin") == b"s" * 1000  # the last to finish wins, whole
    assert temporaries(tmp_path) == []


@pytest.mark.prefect
def test_files_gc_removes_what_killed_local_writers_left(tmp_path):
    name = f"gc-{uuid.uuid4().hex[:8]}"
    files = LocalFiles(basepath=str(tmp_path))
    files.save(name)
    files.write("keep.json", {"a": 1})
    kill_writer_midway("local", {"basepath": str(tmp_path)}, "a/big.bin", chunks=8)
    kill_writer_midway("local", {"basepath": str(tmp_path)}, "b/other.bin", chunks=2)
    assert len(temporaries(tmp_path)) == 2
    done = lume("files", "gc", name, "--json")
    assert done.returncode == 0, done.stderr
    assert len(__import__("json").loads(done.stdout)) == 2
    assert temporaries(tmp_path) == []
    assert files.ls(recursive=True) == ["keep.json"]


# ---- item 16: an S3 writer killed mid-multipart-upload ----------------------------------------


def open_uploads(files: S3Files, bucket: str) -> list[str]:
    return sorted(u["Key"] for u in files._rooted()._uploads(""))


@pytest.mark.s3
def test_killed_s3_writer_upload_is_aborted_by_the_next_write_of_that_key(s3_server, s3_bucket):
    block = {"bucket": s3_bucket, "prefix": "runs", "endpoint_url": s3_server.endpoint_url, "aws_access_key_id": "k", "aws_secret_access_key": "s"}
    files = S3Files(**block)
    kill_writer_midway("s3", block, "state.bin", chunks=20)
    kill_writer_midway("s3", block, "other.bin", chunks=20)
    assert open_uploads(files, s3_bucket) == ["runs/other.bin", "runs/state.bin"]
    files.write("state.bin", b"new")
    assert open_uploads(files, s3_bucket) == ["runs/other.bin"]  # only the key written
    assert files.read("state.bin") == b"new"


@pytest.mark.s3
@pytest.mark.prefect
def test_files_gc_aborts_stale_uploads_under_the_prefix_only(s3_server, s3_bucket):
    block = {"bucket": s3_bucket, "prefix": "runs", "endpoint_url": s3_server.endpoint_url, "aws_access_key_id": "k", "aws_secret_access_key": "s"}
    files = S3Files(**block)
    name = f"gc-s3-{uuid.uuid4().hex[:8]}"
    files.save(name)
    kill_writer_midway("s3", block, "a/state.bin", chunks=20)
    kill_writer_midway("s3", {**block, "prefix": "elsewhere"}, "x.bin", chunks=20)
    # uploads younger than --older-than are kept (they may still run); moto reports every
    # upload as started in 2010, so "younger" here means a limit beyond that
    kept = lume("files", "gc", name, "--json", "--older-than", str(50 * 365 * 86400))
    assert kept.returncode == 0, kept.stderr
    assert kept.stdout.strip() == "[]"
    done = lume("files", "gc", name, "--older-than", "0")
    assert done.returncode == 0, done.stderr
    assert "removed: a/state.bin" in done.stdout
    assert open_uploads(files, s3_bucket) == ["elsewhere/x.bin"]


# ---- item 14: a PostgreSQL restart under 4 writers ---------------------------------------


@pytest.mark.slow
def test_postgres_restart_under_four_writers_loses_and_duplicates_nothing(private_postgres):
    import multiprocessing
    import time

    import sqlalchemy as sa

    from lume_prefect.results.sql import SQLResultsStore
    from tests.hardening.workers import write_results

    writers, per_writer, batch = 4, 2_000, 20
    SQLResultsStore(private_postgres.url).close()  # schema first: the writers only write
    spawn = multiprocessing.get_context("spawn")
    progress, start, answers = spawn.Array("i", writers), spawn.Barrier(writers), spawn.Queue()
    processes = [
        spawn.Process(target=write_results, args=(private_postgres.url, w, per_writer, batch, progress, start, answers))
        for w in range(writers)
    ]
    for process in processes:
        process.start()
    deadline = time.monotonic() + 120
    # every writer mid-way: each has written (so reached the database: see core/retry.py), none is done
    while (min(progress) < 5 * batch or sum(progress) < writers * per_writer // 4) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert max(progress) < per_writer, "a writer finished before the restart"
    outage = private_postgres.restart(down_for=2.0)
    reports = sorted(answers.get(timeout=180) for _ in processes)
    for process in processes:
        process.join(timeout=30)
    assert [error for _, error, _ in reports] == [None] * writers, reports
    assert sum(retried for *_, retried in reports) >= 1, "no writer met the outage"
    engine = sa.create_engine(private_postgres.url)
    with engine.connect() as conn:
        # this test's rows: the session's cluster also holds the outage test's (model 'outage'),
        # written first when a worker runs that test before this one
        rows, keys = conn.execute(sa.text("SELECT count(*), count(DISTINCT key) FROM lume_results WHERE model = 'restart'")).one()
    engine.dispose()
    assert (rows, keys) == (writers * per_writer, writers * per_writer), f"after an outage of {outage:.1f} s"


# ---- issue 21: an outage longer than the retry window ----------------------------------------


@pytest.mark.slow
def test_an_outage_longer_than_the_retry_window_is_one_reported_error_per_writer_and_only_its_batch_missing(private_postgres):
    """Down for RETRY_WINDOW_S + 15 s: each writer's batch in flight waits the whole window, then
    raises one OperationalError; the writer goes on, its next batch waits for the database to come
    back and is stored. Exactly the reported batches are missing: none silently."""
    import multiprocessing
    import threading
    import time

    import sqlalchemy as sa

    from lume_prefect.core.retry import RETRY_WINDOW_S
    from lume_prefect.results.sql import SQLResultsStore
    from tests.hardening.workers import write_through_an_outage

    writers, batches, batch = 2, 400, 10
    SQLResultsStore(private_postgres.url).close()
    spawn = multiprocessing.get_context("spawn")
    progress, start, answers = spawn.Array("i", writers), spawn.Barrier(writers + 1), spawn.Queue()
    processes = [spawn.Process(target=write_through_an_outage, args=(private_postgres.url, w, batches, batch, progress, start, answers))
                 for w in range(writers)]
    for process in processes:
        process.start()
    start.wait(timeout=180)
    deadline = time.monotonic() + 120
    while min(progress) < 5 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert max(progress) < batches, "a writer finished before the outage"
    outage = threading.Thread(target=private_postgres.restart, kwargs={"down_for": RETRY_WINDOW_S + 15})
    outage.start()
    reports = sorted(answers.get(timeout=RETRY_WINDOW_S * 3 + 120) for _ in processes)
    outage.join()
    for process in processes:
        process.join(timeout=30)
    for writer, failed, retries in reports:
        assert len(failed) == 1, (writer, failed)
        number, kind, message = failed[0]
        assert kind == "OperationalError" and number >= 0, failed
        assert "127.0.0.1" in message or "connection" in message.lower(), message
        assert retries >= 1
    engine = sa.create_engine(private_postgres.url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text(  # this test's rows (the cluster is shared with the restart tests)
                "SELECT (inputs->>'writer')::int, (inputs->>'batch')::int FROM lume_results WHERE model = 'outage'")).all()
    engine.dispose()
    stored = set(rows)
    assert len(rows) == len(stored) * batch  # whole batches only
    missing = {(w, b) for w in range(writers) for b in range(batches)} - stored
    assert missing == {(writer, failed[0][0]) for writer, failed, _ in reports}
