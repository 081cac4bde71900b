"""Scans against the raw baseline in the same run: in-process, cached, processes/Dask, Slurm, one run_model.

    .venv/bin/python benchmarks/scans.py                      # everything (several minutes)
    .venv/bin/python benchmarks/scans.py --only scan run_model --points 2000   # quick

Sections (each prints its figures and the ratio to its target):

- ``scan``: a 10,000-point scan of a ~1 ms NumPy model, in-process, every point stored and
  deduplicated, on SQLite and on PostgreSQL (a fresh database on 127.0.0.1:5432) -- vs a raw
  Python loop over the same function plus one raw SQLAlchemy executemany of the same rows into
  an identical table (target <= 1.5x). Then the same scan again, all cached (target <= 0.1x the
  first run).
- ``parallel``: a ~10 ms model: ``executor="processes"`` and ``"dask"`` (a local cluster, 2
  workers, its start included) vs in-process (target: >= 1.6x faster on 2 cores). Also a raw
  loop over the same function and a raw spawned process pool of 2 mapping it over as many chunks
  as the scan's batches: the speed-up the machine gives at that moment (on a shared machine,
  neighbours and memory bandwidth take their share). Each line also gives the CPU seconds used
  (this process and its children: workers, the API server), which the neighbours do not change.
- ``slurm``: the scan as one Slurm job array (``ceil(points / batch)`` elements) vs a raw
  ``sbatch --array`` of the same batches (a Python script per element) polled with squeue.
- ``run_model``: p50 of one in-process ``run_model`` of a ~1 ms model, storing its result,
  inside a parent flow run (heartbeats on, Prefect's default) -- vs a bare Prefect subflow of
  the same function in the same parent (target: run_model <= 50 ms); then both outside any
  flow run (a flow run of their own, with its own heartbeats). Also the Prefect API requests
  per call (log and event uploads aside), which the machine's load does not change.

The machine is shared: the load average is printed with every section.
"""

from __future__ import annotations

import argparse
import atexit
import hashlib
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_TEMP = tempfile.mkdtemp(prefix="lume-bench-scans-")
atexit.register(shutil.rmtree, _TEMP, ignore_errors=True)
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ["PREFECT_HOME"] = os.path.join(_TEMP, "prefect-home")
os.environ["LUME_PREFECT_HOME"] = os.path.join(_TEMP, "lume-home")
os.environ.pop("PREFECT_API_URL", None)
os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

COMPUTE = '''
def compute(x: float, y: float, n: int) -> dict:
    values = np.random.default_rng(abs(int(x * 1000)) % 2**32).normal(y, abs(x) + 1.0, n)
    return {"mean": float(values.mean()), "rms": float(values.std())}
'''

MODEL = '''
import numpy as np

from lume_prefect.models import ModelSpec

spec = ModelSpec(
    name="{name}", version="1.0.0", author="bench", laboratory="bench", facility="bench", beampath="bench",
    inputs=[{{"name": "x", "range": [-1e9, 1e9]}}, {{"name": "y", "range": [-1e9, 1e9], "default": 0.0}},
            {{"name": "n", "type": "int", "default": {n}, "range": [1, 100000000]}}],
    outputs=[{{"name": "mean"}}, {{"name": "rms"}}],
)


{compute}

@spec.flow
def model(x: float, y: float, n: int) -> dict:
    return compute(x, y, n)
'''


def load() -> str:
    try:
        return "load average %.1f %.1f %.1f" % os.getloadavg()
    except OSError:
        return ""


def calibrate(target_ms: float) -> int:
    """The array size n for which the model's computation takes about ``target_ms``."""
    import numpy as np

    def per_call(n: int) -> float:  # the fastest of 5 rounds: what the CPU does when it is not shared
        best = math.inf
        for _ in range(5):
            start = time.perf_counter()
            for i in range(10):
                np.random.default_rng(i).normal(0.0, 1.0, n).std()
            best = min(best, (time.perf_counter() - start) / 10 * 1e3)
        return best

    n = 1000
    while (ms := per_call(n)) < target_ms * 0.5:
        n *= 4
    return max(1, int(n * target_ms / ms))


def write_model(name: str, n: int) -> Path:
    directory = Path(_TEMP) / name
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "model.py").write_text(MODEL.format(name=name, n=n, compute=COMPUTE))
    return directory


def make_services(name: str, results_url: str):
    from pydantic import SecretStr

    from lume_prefect.files import LocalFiles
    from lume_prefect.registry import ModelRegistry
    from lume_prefect.results import SQLResults
    from lume_prefect.services import LumeServices

    home = Path(_TEMP) / f"services-{name}"
    home.mkdir(parents=True, exist_ok=True)
    LumeServices(
        files=LocalFiles(basepath=str(home / "files")),
        registry=ModelRegistry(url=SecretStr(f"sqlite:///{home / 'registry.db'}")),
        results=SQLResults(url=SecretStr(results_url)),
    ).save(name, overwrite=True)
    return LumeServices.load(name)


def register(services, model: str, n: int):
    from lume_prefect.models.deploy import register_model_version

    register_model_version("model.py:model", str(write_model(model, n)), services=services)
    services.registry.promote(model, "1.0.0")


def points_of(count: int, offset: float = 0.0) -> list[dict]:
    return [{"x": offset + i * 0.001, "y": (i % 7) * 0.5} for i in range(count)]


def raw_scan(compute, points: list[dict], model: str, n: int, url: str) -> float:
    """A raw Python loop over the function, then one executemany of the same rows (a fresh identical table)."""

    from lume_prefect.results import SQLResultsStore
    from lume_prefect.results.sql import results_table

    store = SQLResultsStore(url)
    store.count()  # migrated: an identical table, outside the timing
    start = time.perf_counter()
    outputs = [compute(x=p["x"], y=p["y"], n=n) for p in points]
    from datetime import datetime, timezone

    now = datetime.now(timezone.utc).replace(tzinfo=None)
    rows = []
    for p, out in zip(points, outputs):
        inputs = {**p, "n": n}
        key = hashlib.sha256(json.dumps([model, "1.0.0", inputs], sort_keys=True).encode()).hexdigest()
        rows.append({"key": key, "model": model, "version": "1.0.0", "created": now, "flow_run_id": None, "tags": [],
                     "inputs": inputs, "outputs": out, "files": [], "blobs": None})
    with store.engine.begin() as connection:
        connection.execute(results_table.insert(), rows)
    elapsed = time.perf_counter() - start
    assert store.count() == len(points)
    store.close()
    return elapsed


def section_scan(args) -> bool:
    from tests.databases import fresh_database

    from lume_prefect import run_scan

    ok = True
    n = calibrate(1.0)
    for backend in args.backends:
        with fresh_database(backend) as ours_url, fresh_database(backend) as raw_url:
            model = f"bench1ms-{backend}"
            services = make_services(f"bench-{backend}", ours_url)
            register(services, model, n)
            sys.path.insert(0, str(Path(_TEMP) / model))
            from importlib import import_module

            compute = import_module("model").compute
            sys.path.pop(0)
            sys.modules.pop("model", None)
            points = points_of(args.points)
            run_scan(model, points_of(20, offset=-5.0), services=services, progress=False)  # warm: imports, engine, migrations
            t_raw = raw_scan(compute, points, model, n, raw_url)
            start = time.perf_counter()
            first = run_scan(model, points, services=services, progress=False)
            t_ours = time.perf_counter() - start
            assert first.computed == args.points and first.failed == 0
            start = time.perf_counter()
            again = run_scan(model, points, services=services, progress=False)
            t_cached = time.perf_counter() - start
            assert again.cached == args.points
            per_call = t_raw / args.points * 1e3
            r1, r2 = t_ours / t_raw, t_cached / t_ours
            ok &= r1 <= 1.5 and r2 <= 0.1
            print(f"[scan {backend}] {args.points:,} points of a {per_call:.2f} ms model (raw loop + executemany per point), {load()}")
            print(f"  raw loop + one executemany   {t_raw:8.2f} s")
            print(f"  run_scan in-process          {t_ours:8.2f} s   {r1:.2f}x raw   ({'meets' if r1 <= 1.5 else 'MISSES'} <= 1.5x)  [{first.batches} batches]")
            print(f"  run_scan again, all cached   {t_cached:8.2f} s   {r2:.3f}x first ({'meets' if r2 <= 0.1 else 'MISSES'} <= 0.1x)")
    return ok


def raw_points(n: int, points: list[dict]) -> list[dict]:
    """The model's computation on ``points``, without lume-prefect or Prefect (a raw pool's worker)."""
    import numpy as np

    scope = {"np": np}
    exec(COMPUTE, scope)  # the very function of the model file
    return [scope["compute"](x=p["x"], y=p["y"], n=n) for p in points]


def raw_pool(n: int, points: list[dict], workers: int, chunks: int) -> float:
    """A raw process pool (spawned, as ours) mapping the computation over ``chunks`` chunks, start-up included."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    size = math.ceil(len(points) / chunks)
    start = time.perf_counter()
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        done = list(pool.map(raw_points, [n] * chunks, [points[i : i + size] for i in range(0, len(points), size)]))
    elapsed = time.perf_counter() - start
    assert sum(map(len, done)) == len(points)
    return elapsed


def cpu_seconds() -> float:
    """CPU time of this process and of its children, ended or alive (pool workers, the API server):
    what a run costs whatever the machine's neighbours take of its wall time."""
    import resource

    import psutil

    own, ended = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    total = own.ru_utime + own.ru_stime + ended.ru_utime + ended.ru_stime
    for child in psutil.Process().children(recursive=True):
        try:
            times = child.cpu_times()
        except psutil.Error:  # ended meanwhile: counted with the ended children at the next reading
            continue
        total += times.user + times.system
    return total


def timed(run) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of ``run()``."""
    cpu, start = cpu_seconds(), time.perf_counter()
    run()
    return time.perf_counter() - start, cpu_seconds() - cpu


def section_parallel(args) -> bool:
    from lume_prefect import run_scan
    from lume_prefect.scans.executors import batch_size_for

    n = calibrate(10.0)
    services = make_services("bench-parallel", f"sqlite:///{_TEMP}/parallel.db")
    model = "bench10ms"
    register(services, model, n)
    count, workers = args.parallel_points, 2
    ok = True
    for round_ in range(args.repeats):
        times, cpu = {}, {}
        times["raw loop"], cpu["raw loop"] = timed(lambda: raw_points(n, points_of(count, offset=-10.0 - round_)))
        batches = math.ceil(count / batch_size_for(count, "processes", workers, None))  # as many chunks as the scan's batches
        times["raw pool"], cpu["raw pool"] = timed(lambda: raw_pool(n, points_of(count, offset=-20.0 - round_), workers, chunks=batches))
        for offset, executor in enumerate(["in-process", "processes", "dask"]):
            scans = []
            times[executor], cpu[executor] = timed(lambda: scans.append(run_scan(
                model, points_of(count, offset=offset * 10.0 + round_ * 100.0), services=services, executor=executor, workers=workers,
                progress=False)))
            assert scans[0].computed == count, scans[0]
        ceiling = times["raw loop"] / times["raw pool"]
        print(f"[parallel] {count:,} points of a ~10 ms model, {workers} workers (start-up included), round {round_ + 1}, {load()}")
        print(f"  raw loop (one process)      {times['raw loop']:8.2f} s   cpu {cpu['raw loop']:6.2f} s")
        print(f"  raw process pool (spawned)  {times['raw pool']:8.2f} s   cpu {cpu['raw pool']:6.2f} s   "
              f"{ceiling:.2f}x the raw loop's speed: what the machine gives now")
        for executor in ("in-process", "processes", "dask"):
            seconds = times[executor]
            speedup = times["in-process"] / seconds
            verdict = ""
            if executor != "in-process":
                verdict = (f"  ({'meets' if speedup >= 1.6 else 'MISSES'} >= 1.6x; {times['raw pool'] / seconds:.2f}x the raw pool's speed; "
                           f"cpu {cpu[executor] / cpu['in-process']:.2f}x in-process)")
                ok &= speedup >= 1.6
            print(f"  run_scan {executor:<18} {seconds:8.2f} s   cpu {cpu[executor]:6.2f} s   {speedup:.2f}x in-process speed{verdict}")
        sys.stdout.flush()
    return ok


RAW_BATCH = '''
import json, sys
sys.path.insert(0, {source!r})
from model import compute
points = json.load(open(sys.argv[1]))
json.dump([compute(**p) for p in points], open(sys.argv[1] + ".out", "w"))
'''


def section_slurm(args) -> bool:
    import shutil as sh

    from lume_prefect import run_scan
    from lume_prefect.slurm import SlurmCluster

    if sh.which("sbatch") is None or subprocess.run(["sinfo"], capture_output=True).returncode:
        print("[slurm] skipped: no Slurm cluster answers (scripts/start-slurm.sh)")
        return True
    n = calibrate(1.0)
    services = make_services("bench-slurm", f"sqlite:///{_TEMP}/slurm.db")
    model = "bench1ms-slurm"
    register(services, model, n)
    count, batch = args.slurm_points, args.slurm_batch
    elements = math.ceil(count / batch)
    work = Path(_TEMP) / "slurm-work"
    work.mkdir()
    os.chmod(work, 0o755)
    # raw: the batches as JSON files, one array element per batch running a small script
    script = work / "batch.py"
    script.write_text(RAW_BATCH.format(source=str(Path(_TEMP) / model)))
    points = [{**p, "n": n} for p in points_of(count, offset=50.0)]
    for i in range(elements):
        (work / f"batch-{i}.json").write_text(json.dumps(points[i * batch : (i + 1) * batch]))
    start = time.perf_counter()
    job = subprocess.run(["sbatch", "--parsable", f"--array=0-{elements - 1}", f"--output={work}/raw-%a.out",
                          "--wrap", f"{sys.executable} {script} {work}/batch-$SLURM_ARRAY_TASK_ID.json"],
                         capture_output=True, text=True, check=True).stdout.strip()
    final = {"COMPLETED", "FAILED", "TIMEOUT", "CANCELLED", "OUT_OF_MEMORY", "NODE_FAIL"}
    while True:
        states = subprocess.run(["squeue", "-h", "-r", "-t", "all", "-j", job, "-o", "%T"], capture_output=True, text=True).stdout.split()
        if len(states) == elements and all(s in final for s in states):
            break
        time.sleep(0.2)
    t_raw = time.perf_counter() - start
    assert all((work / f"batch-{i}.json.out").exists() for i in range(elements)), "raw batches failed"
    cluster = SlurmCluster(working_dir=str(work), python=sys.executable, max_poll_interval=1.0)
    start = time.perf_counter()
    scan = run_scan(model, points_of(count, offset=50.0), services=services, executor="slurm", slurm=cluster, batch_size=batch, progress=False)
    t_ours = time.perf_counter() - start
    assert scan.computed == count, scan
    print(f"[slurm] {count:,} points of a ~1 ms model in {elements} array elements of {batch}, {load()}")
    print(f"  raw sbatch --array + squeue polling   {t_raw:8.2f} s")
    print(f"  run_scan executor='slurm' (stored)    {t_ours:8.2f} s   {t_ours / t_raw:.2f}x raw")
    return True


class ApiRequests:
    """Counts the Prefect API requests a block of code makes (httpx sends, sync and async), not
    counting the batched log and event uploads: a figure the machine's load does not change."""

    def __init__(self) -> None:
        import httpx

        self.count = 0
        self._httpx = httpx
        self._sends = (httpx.Client.send, httpx.AsyncClient.send)

    def __enter__(self) -> "ApiRequests":
        sync_send, async_send = self._sends

        def counted(request) -> None:
            if "/logs/" not in request.url.path and "/events" not in request.url.path:
                self.count += 1

        def send(client, request, **options):
            counted(request)
            return sync_send(client, request, **options)

        async def asend(client, request, **options):
            counted(request)
            return await async_send(client, request, **options)

        self._httpx.Client.send, self._httpx.AsyncClient.send = send, asend
        return self

    def __exit__(self, *_) -> None:
        self._httpx.Client.send, self._httpx.AsyncClient.send = self._sends


def section_run_model(args) -> bool:
    import itertools

    import numpy as np
    from prefect import flow

    from lume_prefect.models.run import run_model

    n = calibrate(1.0)
    services = make_services("bench-run", f"sqlite:///{_TEMP}/run.db")
    model = "bench1ms-run"
    register(services, model, n)

    @flow(name="bare-model")
    def bare(x: float, y: float = 0.0) -> dict:
        values = np.random.default_rng(abs(int(x * 1000)) % 2**32).normal(y, abs(x) + 1.0, n)
        return {"mean": float(values.mean()), "rms": float(values.std())}

    fresh = (100.0 + i * 0.001 for i in itertools.count())
    samples: dict[str, list[float]] = {}
    requests: dict[str, int] = {}

    def timed_rounds(ours: str, base: str, rounds: int, warm_up: int) -> None:
        """``rounds`` calls of run_model (``ours``) and of the bare flow (``base``), interleaved,
        the order swapped each round, after ``warm_up`` untimed rounds."""
        samples[ours], samples[base] = [], []
        requests[ours] = requests[base] = 0
        for i in range(rounds + warm_up):
            for way in ((ours, base) if i % 2 else (base, ours)):
                with ApiRequests() as counted:
                    start = time.perf_counter()
                    if way == ours:
                        assert not run_model(model, {"x": next(fresh)}, services=services).cached
                    else:
                        bare(next(fresh))
                    elapsed = time.perf_counter() - start
                if i >= warm_up:
                    samples[way].append(elapsed * 1e3)
                    requests[way] += counted.count

    @flow(name="bench-parent")
    def parent(runs: int) -> None:
        timed_rounds("run_model (in a flow)", "bare subflow (in a flow)", runs, 3)

    parent(args.runs)
    # outside any flow run: a flow run of its own, with its own heartbeats
    alone, bare_alone = "run_model (no flow run)", "bare flow (no flow run)"
    timed_rounds(alone, bare_alone, args.runs // 3, 2)
    p50 = {way: statistics.median(s) for way, s in samples.items()}
    ours, base = p50["run_model (in a flow)"], p50["bare subflow (in a flow)"]
    print(f"[run_model] p50 of {args.runs} calls each in a parent flow run ({args.runs // 3} outside any), a ~1 ms model, "
          f"heartbeats on, {load()}")
    for way, value in p50.items():
        print(f"  {way:<26} p50 {value:8.1f} ms   min {min(samples[way]):7.1f}   max {max(samples[way]):7.1f}"
              f"   API requests per call {requests[way] / len(samples[way]):4.1f}")
    print(f"  run_model p50 {ours:.1f} ms ({'meets' if ours <= 50 else 'MISSES'} <= 50 ms); {ours / base:.3f}x the bare subflow; "
          f"outside a flow run {p50[alone]:.1f} ms, {p50[alone] / p50[bare_alone]:.3f}x the bare flow")
    return ours <= 50


SECTIONS = {"scan": section_scan, "parallel": section_parallel, "slurm": section_slurm, "run_model": section_run_model}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="+", choices=list(SECTIONS), default=list(SECTIONS))
    parser.add_argument("--points", type=int, default=10_000, help="points of the in-process scan")
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgresql"])
    parser.add_argument("--parallel-points", type=int, default=2_000, help="points of the 10 ms scan")
    parser.add_argument("--repeats", type=int, default=1, help="rounds of the parallel section")
    parser.add_argument("--slurm-points", type=int, default=10_000)
    parser.add_argument("--slurm-batch", type=int, default=1_000)
    parser.add_argument("--runs", type=int, default=30, help="run_model calls timed")
    args = parser.parse_args()
    ok = True
    for name in args.only:
        ok &= SECTIONS[name](args)
        sys.stdout.flush()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
