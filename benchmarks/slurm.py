"""Python calls on Slurm: ``map_task_as_array`` vs a raw ``sbatch --array`` script vs submitit.

    python benchmarks/slurm.py [--repeats 3] [--sleep-repeats 1] [--large 10000] [--sleep-large 200]
                               [--only trivial-100,...]

Needs the cluster of scripts/start-slurm.sh, and submitit for its column (``pip install -e
'.[bench]'``; prefect-submitit itself needs Python >= 3.12, so its engine, submitit, is measured
with the batching prefect-submitit's ``units_per_worker`` does: one job per chunk of calls).

Cases: a trivial function (``x * 2``) and a 2 s sleep, at 100 calls and at a large count. Every
side runs the same calls on the same cluster, returns every value, and the sides alternate their
order from one repeat to the next. Sides:

- ``raw per call``: ``sbatch --array=0-(N-1)``, one element per call running ``python -c``, and
  ``squeue`` every 0.2 s until every element is final (what a user's script does; Slurm's
  MaxArraySize, 1001 by default, limits it to 1,000 calls);
- ``raw batched``: the same by hand, one element per free slot, each running a slice in one Python;
- ``lume``: ``map_task_as_array`` with its defaults (one element per free slot), and with
  ``items_per_job=1`` at 100 calls (one element per call, like the raw script);
- ``submitit``: ``map_array`` of one call per job, and of one chunk per free slot, and (trivial at
  100) of all the calls in one job; its status comes from result files (no slurmdbd here).

Prints wall times (medians), ratios to raw, and the scheduler calls lume-prefect made in total
and per poll cycle, and what an element's Python start-up costs (the runner vs importing Prefect).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

FINAL = {"COMPLETED", "FAILED", "TIMEOUT", "CANCELLED", "OUT_OF_MEMORY", "NODE_FAIL", "BOOT_FAIL", "DEADLINE", "PREEMPTED"}
PYTHON = sys.executable


def trivial(x: int) -> int:
    return x * 2


def nap(x: int) -> int:
    time.sleep(2)
    return x * 2


def run_chunk(function: Callable[[int], int], items: list[int]) -> list[int]:
    return [function(x) for x in items]


BODIES = {"trivial": "r = x * 2", "sleep": "time.sleep(2); r = x * 2"}
FUNCTIONS = {"trivial": trivial, "sleep": nap}


def squeue_until_final(job_id: str, elements: int) -> int:
    polls = 0
    while True:
        polls += 1
        states = subprocess.run(["squeue", "-h", "-r", "-t", "all", "-j", job_id, "-o", "%T"], capture_output=True, text=True).stdout.split()
        if len(states) == elements and all(state in FINAL for state in states):
            return polls
        time.sleep(0.2)


def raw(kind: str, count: int, elements: int, directory: str) -> tuple[list[int], dict]:
    """``elements`` array elements; element e runs items e, e+elements, ... in one ``python -c``."""
    out = tempfile.mkdtemp(dir=directory)
    code = (f"import os, time\ne = int(os.environ['SLURM_ARRAY_TASK_ID'])\nwith open('{out}/' + str(e), 'w') as f:\n"
            f"    for x in range(e, {count}, {elements}):\n        {BODIES[kind]}\n        f.write(f'{{x}} {{r}}\\n')\n")
    job_id = subprocess.run([("sbatch"), "--parsable", f"--array=0-{elements - 1}", "--output=/dev/null", "--wrap",
                             f"{PYTHON} -c {shell_quote(code)}"], capture_output=True, text=True, check=True).stdout.strip()
    polls = squeue_until_final(job_id, elements)
    values = [0] * count
    for path in Path(out).iterdir():
        for line in path.read_text().splitlines():
            x, r = line.split()
            values[int(x)] = int(r)
    return values, {"squeue": polls}


def shell_quote(text: str) -> str:
    import shlex

    return shlex.quote(text)


def lume(kind: str, count: int, items_per_job: int | None, directory: str) -> tuple[list[int], dict]:
    from lume_prefect.slurm import SlurmCluster, map_task_as_array

    cluster = SlurmCluster(working_dir=directory, python=PYTHON)
    values = map_task_as_array.fn(cluster, FUNCTIONS[kind], range(count), items_per_job=items_per_job)
    control = cluster.controller()
    calls = control.backend.scheduler_calls
    # sinfo (only for the automatic batching) and sbatch are one call each; the rest are polls.
    polls = calls - 1 - (items_per_job is None)
    return values, {"cycles": control.poll_cycles, "calls": calls, "per_cycle": polls / max(1, control.poll_cycles)}


def submitit_side(kind: str, count: int, chunks: int, directory: str) -> tuple[list[int], dict]:
    import functools

    import submitit

    executor = submitit.AutoExecutor(folder=tempfile.mkdtemp(dir=directory), cluster="slurm")
    executor.update_parameters(timeout_min=60, slurm_partition="debug", cpus_per_task=1)
    if chunks == count:
        jobs = executor.map_array(FUNCTIONS[kind], list(range(count)))
        return [job.result() for job in jobs], {}
    slices = [list(range(start, count, chunks)) for start in range(chunks)]
    jobs = executor.map_array(functools.partial(run_chunk, FUNCTIONS[kind]), slices)
    values = [0] * count
    for items, job in zip(slices, jobs):
        for x, r in zip(items, job.result()):
            values[x] = r
    return values, {}


def startup() -> dict[str, float]:
    """Best of 5 wall times of each element's interpreter start-up, in ms."""
    def best(code: str) -> float:
        times = []
        for _ in range(5):
            start = time.perf_counter()
            subprocess.run([PYTHON, "-c", code], check=True)
            times.append((time.perf_counter() - start) * 1000)
        return min(times)

    return {
        "bare python": best("pass"),
        "lume runner (cloudpickle, lume_prefect.core.errors)": best("import lume_prefect.slurm.runner, cloudpickle, lume_prefect.core.errors"),
        "before: the runner's imports pulled in Prefect": best("import lume_prefect.slurm.tasks"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="repeats of the trivial cases")
    parser.add_argument("--sleep-repeats", type=int, default=1, help="repeats of the 2 s sleep cases")
    parser.add_argument("--large", type=int, default=10_000, help="calls of the large trivial case")
    parser.add_argument("--sleep-large", type=int, default=200, help="calls of the large sleep case (10,000 x 2 s is 42 min of 8 slots)")
    parser.add_argument("--only", default="", help="comma-separated cases, e.g. trivial-100,sleep-100")
    args = parser.parse_args()
    if shutil.which("sbatch") is None or subprocess.run(["sinfo"], capture_output=True).returncode:
        sys.exit("No Slurm cluster answers: start one with scripts/start-slurm.sh (as root)")
    try:
        import submitit  # noqa: F401
        have_submitit = True
    except ImportError:
        have_submitit = False
        print("submitit is not installed (pip install -e '.[bench]'): its column is left out")

    import logging

    logging.getLogger("submitit").setLevel(logging.ERROR)  # it warns on every poll that sacct (no slurmdbd) fails
    import lume_prefect.slurm.tasks  # noqa: F401 - a flow's process has Prefect imported already
    from lume_prefect.slurm.transports import CommandBackend, LocalRunner

    slots = CommandBackend(LocalRunner()).free_slots() or 1
    directory = tempfile.mkdtemp(prefix="lume-slurm-bench-", dir=os.environ.get("LUME_BENCH_DIR"))
    print(f"cluster: {slots} free one-CPU slots (sinfo idle CPUs x oversubscription)\n")
    print("element start-up (ms, best of 5):")
    for name, ms in startup().items():
        print(f"  {name:55s} {ms:7.1f}")

    warm = tempfile.mkdtemp(dir=directory)  # first scheduling, page cache, imports: for every side alike
    raw("trivial", 4, 2, warm)
    lume("trivial", 4, None, warm)
    if have_submitit:
        submitit_side("trivial", 4, 2, warm)

    cases = [("trivial", 100, args.repeats), ("trivial", args.large, args.repeats), ("sleep", 100, args.sleep_repeats),
             ("sleep", args.sleep_large, args.sleep_repeats)]
    only = {c for c in args.only.split(",") if c}
    summary = []
    for kind, count, repeats in cases:
        if only and f"{kind}-{count}" not in only:
            continue
        sides: dict[str, Callable[[], tuple[list[int], dict]]] = {}
        if count <= 1000:
            sides["raw per call"] = lambda k=kind, n=count: raw(k, n, n, directory)
        sides[f"raw batched ({min(slots, count)} elements)"] = lambda k=kind, n=count: raw(k, n, min(slots, n), directory)
        sides["lume default"] = lambda k=kind, n=count: lume(k, n, None, directory)
        if count <= 100:
            sides["lume items_per_job=1"] = lambda k=kind, n=count: lume(k, n, 1, directory)
        if have_submitit:
            if count <= 100:
                sides["submitit 1 call per job"] = lambda k=kind, n=count: submitit_side(k, n, n, directory)
            sides[f"submitit {min(slots, count)} jobs"] = lambda k=kind, n=count: submitit_side(k, n, min(slots, n), directory)
            if kind == "trivial" and count <= 100:
                sides["submitit 1 job"] = lambda k=kind, n=count: submitit_side(k, n, 1, directory)
        expected = [x * 2 for x in range(count)]
        times: dict[str, list[float]] = {name: [] for name in sides}
        extra: dict[str, dict] = {}
        print(f"\n{kind} x {count}, {repeats} repeat(s):")
        names = list(sides)
        for repeat in range(repeats):
            order = names[repeat % len(names):] + names[:repeat % len(names)]  # rotate who goes first
            for name in order:
                start = time.perf_counter()
                values, info = sides[name]()
                elapsed = time.perf_counter() - start
                assert values == expected, f"{name} returned wrong values"
                times[name].append(elapsed)
                extra[name] = info
                detail = ", ".join(f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}" for k, v in info.items())
                print(f"  run {repeat + 1}  {name:28s} {elapsed:8.2f} s  {detail}")
        medians = {name: statistics.median(t) for name, t in times.items()}
        baseline = medians.get("raw per call") or medians[names[0]]
        base_name = "raw per call" if "raw per call" in medians else names[0]
        print(f"  median (ratio to {base_name}):")
        for name in names:
            print(f"    {name:28s} {medians[name]:8.2f} s  {medians[name] / baseline:6.3f}x")
        best_submitit = min((m for n, m in medians.items() if n.startswith("submitit")), default=None)
        summary.append((f"{kind} x {count}", medians["lume default"], baseline, base_name, best_submitit, extra["lume default"]))

    print("\nsummary: lume default vs raw and vs submitit's best setting")
    for case, ours, baseline, base_name, best_submitit, info in summary:
        vs_submitit = f"{ours / best_submitit:6.3f}x of submitit's best ({best_submitit:.2f} s)" if best_submitit else "submitit not run"
        print(f"  {case:16s} lume {ours:7.2f} s  {ours / baseline:6.3f}x of {base_name} ({baseline:.2f} s)  {vs_submitit}  "
              f"squeue cycles {info['cycles']}, scheduler calls per cycle {info['per_cycle']:.2f}")
    shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
