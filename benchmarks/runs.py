"""Benchmark: what ``run_model`` adds to a Prefect flow run of the same small model.

    .venv/bin/python benchmarks/runs.py                 # 30 timed runs of each way
    .venv/bin/python benchmarks/runs.py --runs 10       # quick
    .venv/bin/python benchmarks/runs.py --profile 20    # also cProfile 20 run_model calls

The toy-beam model (``flows/toy_beam/model.py``: a 10,000-particle Gaussian bunch through a
drift) is run on Prefect's ephemeral API (started once, SQLite, in a temporary PREFECT_HOME),
in the same process and the same run, in these ways, interleaved round by round (the order
rotated each round) so drift in the machine's load hits all alike:

- ``bare flow``: the same computation as a plain ``@flow`` returning a dict: no lume services;
- ``run_model``: ``run_model("toy-beam", inputs, services=env)`` in-process: live version looked
  up in the registry, inputs validated, results store checked (a miss), the model flow run,
  its Result persisted in the SQLite results store -- every call with fresh inputs;
- ``run_model by name``: the same, with the services given by block name (loaded per call, as
  the CLI and ``LUME_SERVICES`` do);
- ``run_model +particles``: the same with ``save_particles=True`` (also an HDF5 file written
  through the files block; more work than the bare flow, shown for scale, no target);
- ``cache hit``: ``run_model`` on inputs already computed: registry, validation, one lookup.

Services: a LumeServices saved on the ephemeral API, on SQLite files and a local directory
under a temporary directory (removed at exit). The table is printed twice: with Prefect's flow
run heartbeats off, where the targets are judged, and on (Prefect's default), where each
bare sync flow run waits for its heartbeat thread's 1 s sleep and so takes about a second
whatever it does (run_model's in-process engine stops its heartbeat thread with the run). ``paired`` is the median over rounds of each way's time over the bare flow's in the
same round, which a busy machine disturbs less than the ratio of medians. Last, the steps
run_model adds around the flow run are timed alone.

Targets (issue 5): run_model p50 <= 1.10x bare flow; cache hit p50 < 1.0x bare flow.
"""

from __future__ import annotations

import argparse
import atexit
import itertools
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

# Before Prefect is imported: no telemetry, a private Prefect home, run logs kept at INFO
# (they go to the API, as for a user) but off the console so the table stays readable.
_TEMP = tempfile.mkdtemp(prefix="lume-bench-runs-")
atexit.register(shutil.rmtree, _TEMP, ignore_errors=True)  # registered first, so runs after Prefect's server stops
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ["PREFECT_HOME"] = os.path.join(_TEMP, "prefect-home")
os.environ["LUME_PREFECT_HOME"] = os.path.join(_TEMP, "lume-home")
os.environ.pop("PREFECT_API_URL", None)  # the ephemeral API, never a real server by accident
os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "WARNING")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from prefect import flow  # noqa: E402
from prefect.settings import get_current_settings, temporary_settings  # noqa: E402
from pydantic import SecretStr  # noqa: E402

from lume_prefect.files import LocalFiles  # noqa: E402
from lume_prefect.models.deploy import register_model_version  # noqa: E402
from lume_prefect.models.run import run_model  # noqa: E402
from lume_prefect.registry import ModelRegistry  # noqa: E402
from lume_prefect.results import SQLResults  # noqa: E402
from lume_prefect.services import LumeServices  # noqa: E402

SERVICES = "bench-runs"


@flow(name="bare-beam")
def bare_beam(sigma_x: float, sigma_px: float = 1e-4, drift_m: float = 2.0, n_particles: int = 10_000) -> dict:
    """toy_beam's computation, line for line, as a plain Prefect flow."""
    rng = np.random.default_rng(7)
    x = rng.normal(0.0, sigma_x, n_particles)
    px = rng.normal(0.0, sigma_px, n_particles)
    x = x + drift_m * px
    return {"rms_x": float(x.std()), "rms_px": float(px.std())}


def make_services() -> LumeServices:
    home = Path(_TEMP) / "services"
    home.mkdir()
    LumeServices(
        files=LocalFiles(basepath=str(home / "files")),
        registry=ModelRegistry(url=SecretStr(f"sqlite:///{home / 'registry.db'}")),
        results=SQLResults(url=SecretStr(f"sqlite:///{home / 'results.db'}")),
    ).save(SERVICES, overwrite=True)
    env = LumeServices.load(SERVICES)
    register_model_version("model.py:toy_beam", str(ROOT / "flows" / "toy_beam"), services=env)
    env.registry.promote("toy-beam", "1.0.0")
    return env


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=30, help="timed runs of each way")
    parser.add_argument("--warmup", type=int, default=3, help="untimed runs of each way first")
    parser.add_argument("--heartbeats", choices=["off", "on", "both"], default="both",
                        help="Prefect flow run heartbeats: off (targets judged here), on (Prefect's default), both")
    parser.add_argument("--profile", type=int, default=0, metavar="N", help="then cProfile N run_model calls")
    args = parser.parse_args()

    started = time.perf_counter()
    env = make_services()
    print(f"ephemeral Prefect API up and services ready in {time.perf_counter() - started:.1f} s")
    fresh = (1e-3 + n * 1e-6 for n in itertools.count())  # a new sigma_x for every uncached call
    computed: list[float] = []  # sigma_x values already run through run_model: cache hits

    def bare() -> None:
        bare_beam(next(fresh))

    def ours() -> None:
        sigma_x = next(fresh)
        run = run_model("toy-beam", {"sigma_x": sigma_x}, services=env)
        assert not run.cached
        computed.append(sigma_x)

    def by_name() -> None:
        assert not run_model("toy-beam", {"sigma_x": next(fresh)}, services=SERVICES).cached

    def particles() -> None:
        run = run_model("toy-beam", {"sigma_x": next(fresh), "save_particles": True}, services=env)
        assert not run.cached and run.result.files

    def hit() -> None:
        assert run_model("toy-beam", {"sigma_x": computed.pop(0)}, services=env).cached

    # Same computation, same answer: the comparison is fair.
    probe = run_model("toy-beam", {"sigma_x": 2e-3}, services=env).outputs
    assert probe == bare_beam(2e-3), (probe, bare_beam(2e-3))
    computed.append(2e-3)  # one in hand, so a cache hit can run before run_model in a round

    ways = {"bare flow": bare, "run_model": ours, "run_model by name": by_name, "run_model +particles": particles, "cache hit": hit}
    ok = True
    for heartbeats in (["off", "on"] if args.heartbeats == "both" else [args.heartbeats]):
        # Prefect 3.9 joins each sync flow run's heartbeat thread, which sleeps in 1 s steps:
        # with heartbeats on (the default) every flow run takes about a whole second more.
        frequency = get_current_settings().flows.heartbeat_frequency if heartbeats == "on" else None
        with temporary_settings(updates={"flows.heartbeat_frequency": frequency}):
            samples = measure(ways, args.warmup, args.runs)
        ok &= report(samples, f"flow run heartbeats {heartbeats}", args, judge=heartbeats == "off")

    breakdown(env, fresh, args.runs)
    if args.profile:
        with temporary_settings(updates={"flows.heartbeat_frequency": None}):
            profile(env, fresh, args.profile)
    return 0 if ok else 1


def measure(ways: dict[str, Callable[[], None]], warmup: int, runs: int) -> dict[str, list[float]]:
    """Milliseconds per call of each way, interleaved so drift in load hits all ways alike."""
    samples: dict[str, list[float]] = {way: [] for way in ways}
    names = list(ways)
    for i in range(warmup + runs):
        for way in names[i % len(names):] + names[:i % len(names)]:  # rotated: no way always goes first
            call = ways[way]
            start = time.perf_counter()
            call()
            if i >= warmup:
                samples[way].append((time.perf_counter() - start) * 1e3)
    return samples


def report(samples: dict[str, list[float]], label: str, args: argparse.Namespace, judge: bool) -> bool:
    """The table; ``paired`` is the median over rounds of (this way / bare flow in the same round)."""
    p50s = {way: statistics.median(s) for way, s in samples.items()}
    base = p50s["bare flow"]
    paired = {way: statistics.median(x / b for x, b in zip(s, samples["bare flow"])) for way, s in samples.items()}
    print(f"\n{label}: {args.runs} runs of each way after {args.warmup} warm-up runs (ms)")
    print(f"{'way':<22}{'p50':>9}{'mean':>9}{'min':>9}{'max':>9}{'p50/bare':>10}{'paired':>9}")
    for way, s in samples.items():
        print(f"{way:<22}{p50s[way]:>9.1f}{statistics.fmean(s):>9.1f}{min(s):>9.1f}{max(s):>9.1f}"
              f"{p50s[way] / base:>9.2f}x{paired[way]:>8.2f}x")
    ratio_run, ratio_hit = p50s["run_model"] / base, p50s["cache hit"] / base
    ok_run, ok_hit = ratio_run <= 1.10, ratio_hit < 1.0
    print(f"  (b) run_model / bare flow: p50 {ratio_run:.2f}x (paired {paired['run_model']:.2f}x, {p50s['run_model'] - base:+.1f} ms)"
          + (f" -> target <= 1.10x {'met' if ok_run else 'MISSED'}" if judge else ""))
    print(f"  (c) cache hit / bare flow: p50 {ratio_hit:.2f}x (paired {paired['cache hit']:.2f}x)"
          + (f" -> target < 1.0x {'met' if ok_hit else 'MISSED'}" if judge else ""))
    return (ok_run and ok_hit) or not judge


def breakdown(env: LumeServices, fresh: Iterator[float], runs: int) -> None:
    """p50 of each step run_model adds around the flow run, timed alone (no flow engine)."""
    from lume_prefect.models.contract import ModelSpec
    from lume_prefect.results.codec import result_key
    from lume_prefect.results.result import Result

    registered = env.registry.live_version("toy-beam")
    spec = ModelSpec.from_parameters_schema(registered.parameters_schema, "toy-beam", registered.version)
    steps: dict[str, Callable[[float], object]] = {
        "registry live_version": lambda x: env.registry.live_version("toy-beam"),
        "spec + validate + key": lambda x: result_key("toy-beam", "1.0.0", ModelSpec.from_parameters_schema(
            registered.parameters_schema, "toy-beam", registered.version).validate_inputs({"sigma_x": x})),
        "results get (miss)": lambda x: env.results.get(result_key("toy-beam", "9", {"sigma_x": x})),
        "Result + insert (persist)": lambda x: env.results.insert(Result(
            model="toy-beam", version="1.0.0", inputs=spec.validate_inputs({"sigma_x": x}),
            outputs={"rms_x": x, "rms_px": 1e-4}), on_duplicate="replace"),
    }
    print(f"\nlume-prefect's own steps, each timed alone ({max(runs, 20)} calls, p50 ms)")
    total = 0.0
    for step, call in steps.items():
        times = []
        for _ in range(max(runs, 20)):
            x = next(fresh)
            start = time.perf_counter()
            call(x)
            times.append((time.perf_counter() - start) * 1e3)
        total += statistics.median(times)
        print(f"  {step:<28}{statistics.median(times):>7.2f}")
    print(f"  {'sum':<28}{total:>7.2f}")


def profile(env: LumeServices, fresh: Iterator[float], n: int) -> None:
    """cProfile ``n`` uncached run_model calls; print the top of the cumulative-time table."""
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(n):
        run_model("toy-beam", {"sigma_x": next(fresh)}, services=env)
    profiler.disable()
    print(f"\ncProfile of {n} run_model calls, by cumulative time")
    stats = pstats.Stats(profiler).sort_stats("cumulative")
    stats.print_stats(25)
    print("the lume-prefect part of it:")
    stats.print_stats("lume_prefect", 30)


if __name__ == "__main__":
    sys.exit(main())
