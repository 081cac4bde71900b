"""``find(inputs=...)`` on a large PostgreSQL results table, against a raw indexed SELECT.

    .venv/bin/python benchmarks/results_query.py                 # 1,000,000 stored results
    .venv/bin/python benchmarks/results_query.py --rows 100000
    .venv/bin/python benchmarks/results_query.py --repo OTHER_CHECKOUT   # the same run on other code

The table is filled server-side (``generate_series``) in the store's own row format, then the
store is opened (migrating the schema as a user's first use would) and ``find(inputs={"x": k})``
is timed for random k that each match one row. The raw side is ``SELECT key FROM lume_results
WHERE inputs @> :doc`` on a held connection. ``--repo`` imports lume_prefect from another
checkout, so a release before the inputs index can be measured in the same way.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def p50_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--repo", type=Path, default=ROOT, help="checkout whose lume_prefect is measured")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))  # tests.databases
    sys.path.insert(0, str(args.repo.resolve()))
    import sqlalchemy as sa

    from lume_prefect.results import SQLResultsStore
    from lume_prefect.results.sql import migrate
    from tests.databases import fresh_database

    with fresh_database("postgresql") as url:
        engine = sa.create_engine(url)
        migrate(engine, "0001")  # the first revision's table; the store upgrades it on first use
        start = time.perf_counter()
        with engine.begin() as connection:
            connection.execute(sa.text(
                "INSERT INTO lume_results (key, model, version, created, tags, inputs, outputs, files)"
                " SELECT md5(i::text) || md5((-i)::text), 'bench', '1', now(), '[]',"
                " jsonb_build_object('x', i, 'y', i * 0.5, 'name', 'run-' || i), jsonb_build_object('z', i * 2.0), '[]'"
                " FROM generate_series(0, :n - 1) AS i"
            ), {"n": args.rows})
        filled = time.perf_counter() - start
        store = SQLResultsStore(url)
        start = time.perf_counter()
        assert store.count() == args.rows  # first use: migrations run here
        migrated = time.perf_counter() - start
        with engine.connect() as connection:
            connection.execute(sa.text("ANALYZE lume_results"))
            connection.commit()
        rng = random.Random(7)
        targets = [rng.randrange(args.rows) for _ in range(args.queries)]
        ours, raw = [], []
        with engine.connect() as connection:
            raw_query = sa.text("SELECT key FROM lume_results WHERE inputs @> CAST(:doc AS jsonb)")
            for k in targets:  # alternate the two sides
                start = time.perf_counter()
                found = store.find(inputs={"x": k})
                ours.append(time.perf_counter() - start)
                assert [r.inputs["x"] for r in found] == [k]
                start = time.perf_counter()
                keys = connection.execute(raw_query, {"doc": json.dumps({"x": k})}).scalars().all()
                raw.append(time.perf_counter() - start)
                assert len(keys) == 1
        store.close()
        engine.dispose()
    print(f"code: {args.repo.resolve()}")
    print(f"rows: {args.rows:,} (filled in {filled:.1f} s; store's first use incl. migrations {migrated:.1f} s)")
    print(f"find(inputs={{'x': k}}) p50: {p50_ms(ours):.2f} ms   raw SELECT ... @> (GIN if present) p50: {p50_ms(raw):.2f} ms   "
          f"ratio {p50_ms(ours) / p50_ms(raw):.2f}x")


if __name__ == "__main__":
    main()
