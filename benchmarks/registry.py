"""Benchmark: ``live_version`` and ``latest_version`` against raw SQL on the same database.

    .venv/bin/python benchmarks/registry.py                       # 1,000 models x 100 versions
    .venv/bin/python benchmarks/registry.py --models 100 --versions 20 --lookups 500   # quick

For each backend (SQLite file, PostgreSQL on 127.0.0.1; MariaDB with ``--backends``) it fills a fresh database, then
times lookups of random models three ways, interleaved so they see the same conditions:

- ``registry``: ``SQLRegistry.live_version`` / ``latest_version`` (validation, pooled
  connection with pre-ping, one SQL query, a pydantic ``ModelVersion``);
- ``raw SQL (pool)``: the same query written by hand in SQL text, executed through a
  plain SQLAlchemy engine on the same database (pooled connection with pre-ping, rows
  returned as tuples) -- the fair "what a hand-written query costs" baseline;
- ``raw DBAPI``: the same SQL on one open driver connection (no pool, no ping), the
  floor that no library code can reach.

Targets (issue 3): p50 <= 2 ms and <= 1.2x raw SQL.

``--backends mlflow`` starts a real ``mlflow server`` (SQLite store, local artifacts, on
127.0.0.1) and times, against MLflow's own client in the same run (issue 20):

- ``live_version``: ``MLflowRegistry.live_version`` (the block, loaded once, as a flow does)
  against ``MlflowClient.get_model_version_by_alias(name, "live")``, the one call it needs;
- ``run_model by name``: ``run_model("toy-beam", inputs, services=NAME)`` on a LumeServices
  whose registry is that server, against the raw lookup plus the same computation as a plain
  flow (the bare flow of ``benchmarks/runs.py``), heartbeats off, interleaved round by round.

Target (issue 20): both p50 <= 1.2x the raw client.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timezone

import sqlalchemy as sa

from lume_prefect.registry import SQLRegistry
from lume_prefect.core.sql import dispose_engines
from lume_prefect.registry.schema import alias_history, aliases, models, versions
from lume_prefect.registry.versions import sort_key

SERVER_URLS = {
    "postgresql": os.environ.get("LUME_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"),
    "mariadb": os.environ.get("LUME_BENCH_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/"),
}
COLUMNS = (
    "m.name AS model, v.version, v.source, v.entrypoint, v.sha256, v.image, v.parameters_schema, "
    "v.registered_at, v.registered_by, v.deployment_name, v.deployment_id, v.deployed_at"
)
RAW_LIVE = (
    f"SELECT {COLUMNS} FROM lume_models m JOIN lume_model_aliases a ON a.model_id = m.id "
    "JOIN lume_model_versions v ON v.id = a.version_id WHERE m.name = {p} AND a.alias = 'live'"
)
RAW_LATEST = (
    f"SELECT {COLUMNS} FROM lume_model_versions v JOIN lume_models m ON m.id = v.model_id "
    "WHERE v.model_id = (SELECT id FROM lume_models WHERE name = {p}) ORDER BY v.sort_key DESC LIMIT 1"
)


def fill(url: str, n_models: int, n_versions: int, rng: random.Random) -> list[str]:
    """Models with versions in shuffled order (so string order != PEP 440 order) and a live alias."""
    registry = SQLRegistry(url)
    registry.list_models()  # creates the schema through the migrations
    now = datetime.now(timezone.utc)
    names = [f"model-{i:05d}" for i in range(n_models)]
    engine = registry.engine
    with engine.begin() as conn:
        conn.execute(
            sa.insert(models),
            [{"name": n, "author": "bench", "laboratory": "SLAC", "facility": "LCLS", "beampath": "cu_hxr",
              "description": "", "created_at": now} for n in names],
        )
        ids = dict(conn.execute(sa.select(models.c.name, models.c.id)).all())
        for name in names:
            numbers = [f"{1 + i // 10}.{i % 10}.{rng.choice([0, 1, 12])}" for i in range(n_versions)]
            rng.shuffle(numbers)
            conn.execute(
                sa.insert(versions),
                [{"model_id": ids[name], "version": v, "sort_key": sort_key(v), "source": f"{name}=={v}",
                  "entrypoint": "model.flow:run", "registered_at": now, "registered_by": "bench"} for v in numbers],
            )
        version_ids = conn.execute(
            sa.select(versions.c.model_id, sa.func.min(versions.c.id)).group_by(versions.c.model_id)
        ).all()
        conn.execute(sa.insert(aliases), [{"model_id": m, "alias": "live", "version_id": v} for m, v in version_ids])
        conn.execute(
            sa.insert(alias_history),
            [{"model_id": m, "alias": "live", "from_version_id": None, "to_version_id": v, "changed_at": now,
              "changed_by": "bench"} for m, v in version_ids],
        )
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(sa.text("ANALYZE"))
    return names


def timed(call: Callable[[str], object], names: list[str]) -> list[float]:
    samples = []
    for name in names:
        start = time.perf_counter_ns()
        call(name)
        samples.append((time.perf_counter_ns() - start) / 1e6)
    return samples


def run_backend(label: str, url: str, args: argparse.Namespace) -> list[tuple[str, str, float, float, float]]:
    rng = random.Random(3)
    started = time.perf_counter()
    names = fill(url, args.models, args.versions, rng)
    print(f"\n{label}: {args.models} models x {args.versions} versions filled in {time.perf_counter() - started:.1f} s")

    registry = SQLRegistry(url)
    raw_engine = sa.create_engine(url, pool_pre_ping=True)
    detached = raw_engine.raw_connection()
    detached.detach()  # one open driver connection, outside any pool
    dbapi = detached.dbapi_connection
    placeholder = "?" if raw_engine.dialect.paramstyle == "qmark" else "%s"
    if raw_engine.dialect.name == "sqlite":
        dbapi.isolation_level = None  # autocommit: each query stands alone, as in the registry

    def pooled(sql: str) -> Callable[[str], object]:
        text = sa.text(sql.format(p=":name"))

        def run(name: str) -> object:
            with raw_engine.connect() as conn:
                return conn.execute(text, {"name": name}).first()

        return run

    def driver(sql: str) -> Callable[[str], object]:
        statement = sql.format(p=placeholder)

        def run(name: str) -> object:
            cursor = dbapi.cursor()
            cursor.execute(statement, (name,))
            row = cursor.fetchone()
            cursor.close()
            if raw_engine.dialect.name != "sqlite":
                dbapi.commit()  # end the implicit transaction, as a pooled checkin does
            return row

        return run

    # Same answers from all three, or the comparison means nothing.
    probe = names[len(names) // 2]
    live, latest = registry.live_version(probe), registry.latest_version(probe)
    assert pooled(RAW_LIVE)(probe)[1] == driver(RAW_LIVE)(probe)[1] == live.version
    assert pooled(RAW_LATEST)(probe)[1] == driver(RAW_LATEST)(probe)[1] == latest.version
    expected_latest = max((v.version for v in registry.list_versions(probe)), key=sort_key)
    assert latest.version == expected_latest

    operations = {
        "live_version": (registry.live_version, pooled(RAW_LIVE), driver(RAW_LIVE)),
        "latest_version": (registry.latest_version, pooled(RAW_LATEST), driver(RAW_LATEST)),
    }
    rows = []
    for operation, (ours, raw_pool, raw_driver) in operations.items():
        lookups = [rng.choice(names) for _ in range(args.lookups)]
        for call in (ours, raw_pool, raw_driver):  # warm caches and statement compilation
            timed(call, lookups[:50])
        results: dict[str, list[float]] = {"registry": [], "raw SQL (pool)": [], "raw DBAPI": []}
        for start in range(0, len(lookups), 100):  # interleave so drift hits all three alike
            chunk = lookups[start:start + 100]
            results["registry"] += timed(ours, chunk)
            results["raw SQL (pool)"] += timed(raw_pool, chunk)
            results["raw DBAPI"] += timed(raw_driver, chunk)
        for way, samples in results.items():
            p50 = statistics.median(samples)
            p95 = statistics.quantiles(samples, n=20)[-1]
            rows.append((operation, way, p50, p95, p50))
    dbapi.close()
    raw_engine.dispose()
    dispose_engines()
    return rows


def report(label: str, rows: list[tuple[str, str, float, float, float]]) -> bool:
    ok = True
    print(f"{'operation':<16}{'way':<17}{'p50 ms':>9}{'p95 ms':>9}{'ours/this':>11}")
    p50s = {(op, way): p50 for op, way, p50, _, _ in rows}
    for operation, way, p50, p95, _ in rows:
        ratio = p50s[(operation, "registry")] / p50
        print(f"{operation:<16}{way:<17}{p50:>9.3f}{p95:>9.3f}{ratio:>10.2f}x")
    for operation in ("live_version", "latest_version"):
        ours, raw = p50s[(operation, "registry")], p50s[(operation, "raw SQL (pool)")]
        verdict = ours <= 2.0 and ours / raw <= 1.2
        ok &= verdict
        print(f"  {label} {operation}: p50 {ours:.3f} ms, {ours / raw:.2f}x raw SQL (pool), "
              f"{ours / p50s[(operation, 'raw DBAPI')]:.2f}x raw DBAPI -> target {'met' if verdict else 'MISSED'}")
    return ok


def start_mlflow(directory: str) -> tuple[object, str]:
    """``mlflow server`` on a free port of 127.0.0.1; (process, URL)."""
    import socket
    import subprocess
    import urllib.request

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    mlflow = os.path.join(os.path.dirname(sys.executable), "mlflow")
    process = subprocess.Popen(
        [mlflow, "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
         "--backend-store-uri", f"sqlite:///{directory}/mlflow.db", "--artifacts-destination", f"{directory}/artifacts"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True, cwd=directory,
        env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while True:
        try:
            urllib.request.urlopen(url + "/health", timeout=2).close()
            return process, url
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("mlflow server did not start") from None
            time.sleep(0.2)


def run_mlflow(args: argparse.Namespace) -> bool:
    """The MLflow rows (see the module docstring)."""
    import signal

    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import benchmarks.runs as runs  # a private PREFECT_HOME and LUME_PREFECT_HOME, the toy-beam model
    from mlflow import MlflowClient
    from prefect.settings import temporary_settings

    from lume_prefect.models.deploy import register_model_version
    from lume_prefect.models.run import run_model
    from lume_prefect.registry import MLflowRegistry
    from lume_prefect.services import LumeServices

    with tempfile.TemporaryDirectory(prefix="lume-bench-mlflow-") as directory:
        process, url = (None, args.mlflow_url) if args.mlflow_url else start_mlflow(directory)
        try:
            block = MLflowRegistry(tracking_uri=url)
            store = block.registry()
            run_tag = uuid.uuid4().hex[:6]  # a server given by --mlflow-url may hold an earlier run's models
            names = [f"bench-{run_tag}-{i:03d}" for i in range(args.mlflow_models)]
            started = time.perf_counter()
            for name in names:
                store.register_model(name, author="bench", laboratory="SLAC", facility="LCLS", beampath="cu_hxr")
                for v in range(args.mlflow_versions):
                    store.register_version(name, f"1.{v}", source=f"{name}==1.{v}", entrypoint="model.flow:run")
                store.promote(name, "1.0")
            print(f"\nmlflow: {len(names)} models x {args.mlflow_versions} versions registered in {time.perf_counter() - started:.1f} s")

            client = MlflowClient(url, url)
            rng = random.Random(5)
            probe = names[0]
            assert client.get_model_version_by_alias(probe, "live").tags["lume.version"] == block.live_version(probe).version

            def ours(name: str) -> object:
                return block.live_version(name)

            def raw(name: str) -> object:
                return client.get_model_version_by_alias(name, "live")

            lookups = [rng.choice(names) for _ in range(args.lookups)]
            timed(ours, lookups[:50])
            timed(raw, lookups[:50])
            samples: dict[str, list[float]] = {"registry": [], "raw MlflowClient": []}
            for start in range(0, len(lookups), 100):
                chunk = lookups[start:start + 100]
                samples["registry"] += timed(ours, chunk)
                samples["raw MlflowClient"] += timed(raw, chunk)

            env_name = "bench-mlflow"
            home = os.path.join(directory, "services")
            os.makedirs(home)
            from pydantic import SecretStr

            from lume_prefect.files import LocalFiles
            from lume_prefect.results import SQLResults

            LumeServices(
                files=LocalFiles(basepath=os.path.join(home, "files")), registry=block,
                results=SQLResults(url=SecretStr(f"sqlite:///{home}/results.db")),
            ).save(env_name, overwrite=True)
            env = LumeServices.load(env_name)
            register_model_version("model.py:toy_beam", str(runs.ROOT / "flows" / "toy_beam"), services=env)
            env.registry.promote("toy-beam", "1.0.0")
            fresh = (1e-3 + n * 1e-6 for n in range(10**9))
            assert run_model("toy-beam", {"sigma_x": 2e-3}, services=env_name).outputs == runs.bare_beam(2e-3)

            def run_ours() -> None:
                assert not run_model("toy-beam", {"sigma_x": next(fresh)}, services=env_name).cached

            def run_raw() -> None:
                client.get_model_version_by_alias("toy-beam", "live")
                runs.bare_beam(next(fresh))

            with temporary_settings(updates={"flows.heartbeat_frequency": None}):
                flow_samples = runs.measure({"run_model by name": run_ours, "raw MlflowClient + bare flow": run_raw}, 3, args.mlflow_runs)
        finally:
            if process is not None:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=30)

    rows = [
        ("live_version", "registry", samples["registry"]),
        ("live_version", "raw MlflowClient", samples["raw MlflowClient"]),
        ("run_model", "by name", flow_samples["run_model by name"]),
        ("run_model", "raw + bare flow", flow_samples["raw MlflowClient + bare flow"]),
    ]
    print(f"{'operation':<16}{'way':<19}{'p50 ms':>9}{'p95 ms':>9}")
    for operation, way, values in rows:
        print(f"{operation:<16}{way:<19}{statistics.median(values):>9.3f}{statistics.quantiles(values, n=20)[-1]:>9.3f}")
    ok = True
    for operation, (ours_p50, raw_p50) in {
        "live_version": (statistics.median(samples["registry"]), statistics.median(samples["raw MlflowClient"])),
        "run_model by name": (statistics.median(flow_samples["run_model by name"]), statistics.median(flow_samples["raw MlflowClient + bare flow"])),
    }.items():
        verdict = ours_p50 / raw_p50 <= 1.2
        ok &= verdict
        print(f"  mlflow {operation}: p50 {ours_p50:.3f} ms, {ours_p50 / raw_p50:.2f}x the raw MlflowClient -> target {'met' if verdict else 'MISSED'}")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", type=int, default=1000)
    parser.add_argument("--versions", type=int, default=100)
    parser.add_argument("--lookups", type=int, default=3000, help="timed lookups per operation and way")
    parser.add_argument("--backends", default="sqlite,postgresql", help="comma-separated: sqlite, postgresql, mariadb, mlflow")
    parser.add_argument("--mlflow-models", type=int, default=20, help="models on the MLflow server")
    parser.add_argument("--mlflow-versions", type=int, default=5, help="versions of each model on the MLflow server")
    parser.add_argument("--mlflow-runs", type=int, default=30, help="timed run_model calls on MLflow")
    parser.add_argument("--mlflow-url", default=None, help="an MLflow server already running (its models are added to), instead of starting one")
    args = parser.parse_args()

    ok = True
    for backend in args.backends.split(","):
        if backend == "mlflow":
            ok &= run_mlflow(args)
        elif backend == "sqlite":
            with tempfile.TemporaryDirectory(prefix="lume-bench-") as directory:
                ok &= report("sqlite", run_backend("sqlite", f"sqlite:///{directory}/registry.db", args))
        elif backend in SERVER_URLS:
            admin = sa.create_engine(SERVER_URLS[backend], isolation_level="AUTOCOMMIT")
            name = f"lume_bench_{uuid.uuid4().hex[:10]}"
            with admin.connect() as conn:
                conn.execute(sa.text(f"CREATE DATABASE {name}"))  # generated name, not input
            try:
                url = sa.make_url(SERVER_URLS[backend]).set(database=name).render_as_string(hide_password=False)
                ok &= report(backend, run_backend(backend, url, args))
            finally:
                with admin.connect() as conn:
                    force = " WITH (FORCE)" if backend == "postgresql" else ""
                    conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name}{force}"))
                admin.dispose()
        else:
            parser.error(f"unknown backend {backend!r} (sqlite, postgresql, mariadb, mlflow)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
