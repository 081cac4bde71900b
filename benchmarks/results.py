"""Results store throughput and latency against raw drivers, same run, same database server.

    .venv/bin/python benchmarks/results.py                      # full: 100k inserts, get at 1M rows
    .venv/bin/python benchmarks/results.py --inserts 20000 --stored 100000 --mongo-inserts 2000

insert_many: ``store.insert_many(results)`` of N small results vs the same rows written by raw
SQLAlchemy Core ``executemany`` into an identical table (a second fresh database migrated by
the same code; the faster of one executemany of all rows and of 5,000-row slices, each in
one transaction), and vs raw pymongo ``insert_many``
into a collection with the same unique index.
Both sides get prebuilt input (Results / row dicts, keys computed) so the figure is the cost
of storing; "end to end" adds building them (pydantic validation and hashing vs json+sha256).

get: p50 of ``store.get(key)`` on a table of ``--stored`` results vs a raw indexed
``SELECT ... WHERE key = :key`` on a held connection.

Targets (issue 4): insert_many >= 0.8x raw; get p50 <= 1 ms on SQLite, <= 2 ms on PostgreSQL.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sqlalchemy as sa  # noqa: E402

from lume_prefect.results import MongoResultsStore, Result, SQLResultsStore  # noqa: E402
from lume_prefect.results.sql import results_table  # noqa: E402
from tests.databases import fresh_database  # noqa: E402


def inputs_of(i: int) -> dict:
    return {"x": i, "y": i * 0.5, "name": f"run-{i}"}


def build_results(n: int, offset: int = 0) -> list[Result]:
    return [Result(model="bench", version="1", inputs=inputs_of(i), outputs={"z": i * 2.0}) for i in range(offset, offset + n)]


def build_raw_rows(n: int) -> list[dict]:
    """What a hand-written store would write: a sha256 of sorted JSON as the key, JSON columns."""
    from datetime import datetime, timezone

    now = datetime.now(timezone.utc).replace(tzinfo=None)
    rows = []
    for i in range(n):
        inputs = inputs_of(i)
        key = hashlib.sha256(json.dumps(["bench", "1", inputs], sort_keys=True).encode()).hexdigest()
        rows.append(
            {"key": key, "model": "bench", "version": "1", "created": now, "flow_run_id": None, "tags": [],
             "inputs": inputs, "outputs": {"z": i * 2.0}, "files": [], "blobs": None}
        )
    return rows


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def report(label: str, ours: float, raw: float, n: int, target: float = 0.8) -> None:
    ratio = raw / ours
    verdict = "meets" if ratio >= target else "below"
    print(f"  {label:<28} ours {n / ours:>9,.0f}/s   raw {n / raw:>9,.0f}/s   ratio {ratio:.2f}x ({verdict} {target}x target)")


def bench_sql_insert(backend: str, n: int) -> None:
    print(f"[{backend}] insert_many of {n:,} small results")
    with fresh_database(backend) as ours_url, fresh_database(backend) as raw_url:
        ours, raw = SQLResultsStore(ours_url), SQLResultsStore(raw_url)  # both migrated: identical tables
        ours.count(), raw.count()
        results: list[Result] = []
        rows: list[dict] = []
        build_ours = timed(lambda: results.extend(build_results(n)))
        build_raw = timed(lambda: rows.extend(build_raw_rows(n)))
        t_ours = timed(lambda: ours.insert_many(results))

        def raw_insert(slice_rows: int) -> float:
            def insert() -> None:
                with raw.engine.begin() as connection:
                    for start in range(0, n, slice_rows):
                        connection.execute(results_table.insert(), rows[start : start + slice_rows])

            seconds = timed(insert)
            assert raw.count() == n
            with raw.engine.begin() as connection:  # empty again (not timed) for the next variant
                connection.execute(results_table.delete())
            return seconds

        # the raw baseline is the faster of one executemany of all rows and 5,000-row slices
        raw_times = {"one executemany": raw_insert(n), "5k-row slices": raw_insert(5_000)}
        best = min(raw_times, key=raw_times.get)
        t_raw = raw_times[best]
        assert ours.count() == n
        print("  raw variants: " + ", ".join(f"{k} {n / v:,.0f}/s" for k, v in raw_times.items()) + f" (baseline: {best})")
        report("store cost", t_ours, t_raw, n)
        report("end to end (incl. building)", t_ours + build_ours, t_raw + build_raw, n)
        ours.close(), raw.close()


def bench_sql_get(backend: str, stored: int, lookups: int, chunk: int = 50_000) -> None:
    print(f"[{backend}] get(key) at {stored:,} stored results ({lookups:,} lookups)")
    with fresh_database(backend) as url:
        store = SQLResultsStore(url)
        keys = []
        start = time.perf_counter()
        for offset in range(0, stored, chunk):
            batch = build_results(min(chunk, stored - offset), offset)
            store.insert_many(batch)
            keys.extend(r.key for r in random.sample(batch, max(1, lookups * len(batch) // stored)))
        print(f"  filled in {time.perf_counter() - start:.0f} s")
        random.shuffle(keys)
        ours = []
        for key in keys:
            t0 = time.perf_counter()
            assert store.get(key) is not None
            ours.append(time.perf_counter() - t0)
        raw = []
        query = sa.select(*[c for c in results_table.c if c.name != "id"]).where(results_table.c.key == sa.bindparam("k"))
        with store.engine.connect() as connection:
            for key in keys:
                t0 = time.perf_counter()
                assert connection.execute(query, {"k": key}).first() is not None
                raw.append(time.perf_counter() - t0)
        p50_ours, p50_raw = statistics.median(ours) * 1e3, statistics.median(raw) * 1e3
        limit = 1.0 if backend == "sqlite" else 2.0
        verdict = "meets" if p50_ours <= limit else "misses"
        print(f"  get p50 ours {p50_ours:.3f} ms   raw {p50_raw:.3f} ms   ratio {p50_ours / p50_raw:.2f}x   ({verdict} <= {limit} ms target)")
        store.close()


def bench_mongo_insert(n: int) -> None:
    import pymongo

    from tests.results.mongo_server import MongoWireServer

    print(f"[mongo wire: briskdb] insert_many of {n:,} small results")
    server = MongoWireServer(tempfile.mkdtemp(prefix="bench-briskdb-"))
    try:
        ours = MongoResultsStore(server.url, "bench_ours")
        client = pymongo.MongoClient(server.url)
        raw = client["bench_raw"]["results"]
        raw.create_index("key", unique=True)
        ours.count()
        results = build_results(n)
        rows = build_raw_rows(n)
        t_ours = timed(lambda: ours.insert_many(results))
        t_raw = timed(lambda: raw.insert_many(rows, ordered=True))
        assert ours.count() == n and raw.count_documents({}) == n
        report("store cost", t_ours, t_raw, n)
        client.close(), ours.close()
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--inserts", type=int, default=100_000, help="results per insert_many (SQL)")
    parser.add_argument("--mongo-inserts", type=int, default=100_000, help="results per insert_many (MongoDB wire)")
    parser.add_argument("--stored", type=int, default=1_000_000, help="results stored before timing get()")
    parser.add_argument("--lookups", type=int, default=2_000, help="get() calls timed")
    parser.add_argument("--backends", default="sqlite,postgresql,mongo")
    args = parser.parse_args()
    backends = args.backends.split(",")
    for backend in ("sqlite", "postgresql"):
        if backend in backends:
            bench_sql_insert(backend, args.inserts)
    if "mongo" in backends:
        bench_mongo_insert(args.mongo_inserts)
    for backend in ("sqlite", "postgresql"):
        if backend in backends:
            bench_sql_get(backend, args.stored, args.lookups)


if __name__ == "__main__":
    main()
