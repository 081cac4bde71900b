"""100 short jobs as one Slurm array: lume-prefect vs a raw ``sbatch --array`` + polling script.

    python benchmarks/slurm.py [--jobs 100] [--repeats 6]

Needs the cluster of scripts/start-slurm.sh. Both sides run on the same cluster, alternating,
with the same job (``true`` per element). The raw side polls ``squeue`` every 0.2 s (a fixed,
eager interval); lume-prefect submits through the ``SlurmCluster`` block and waits with its
backoff. Prints wall times, their ratio (target <= 1.1) and the scheduler commands issued per
poll cycle by lume-prefect (target 1, whatever the number of jobs).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

FINAL = {"COMPLETED", "FAILED", "TIMEOUT", "CANCELLED", "OUT_OF_MEMORY", "NODE_FAIL", "BOOT_FAIL", "DEADLINE", "PREEMPTED"}


def raw(jobs: int, directory: str) -> tuple[float, int]:
    """sbatch --array, then poll squeue until every element is final: what a user's script does."""
    start = time.perf_counter()
    job_id = subprocess.run(["sbatch", "--parsable", f"--array=0-{jobs - 1}", f"--output={directory}/raw-%A_%a.out", "--wrap", "true"],
                            capture_output=True, text=True, check=True).stdout.strip()
    polls = 0
    while True:
        polls += 1
        states = subprocess.run(["squeue", "-h", "-r", "-t", "all", "-j", job_id, "-o", "%T"], capture_output=True, text=True).stdout.split()
        if len(states) == jobs and all(state in FINAL for state in states):
            return time.perf_counter() - start, polls
        time.sleep(0.2)


def lume(jobs: int, directory: str) -> tuple[float, int, int]:
    """The same array through the SlurmCluster block: submit, wait, collect (output files are read)."""
    from lume_prefect.slurm import SlurmCluster, SlurmJob

    cluster = SlurmCluster(working_dir=directory)
    control = cluster.controller()
    start = time.perf_counter()
    job = cluster.submit(SlurmJob(name="bench", array=f"0-{jobs - 1}", command=["true"]))
    submit_calls = control.backend.scheduler_calls
    results = cluster.wait(job, progress=False)
    elapsed = time.perf_counter() - start
    assert len(results) == jobs and all(r.succeeded for r in results), [r.status for r in results if not r.succeeded][:3]
    return elapsed, control.poll_cycles, control.backend.scheduler_calls - submit_calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=6)
    args = parser.parse_args()
    if shutil.which("sbatch") is None or subprocess.run(["sinfo"], capture_output=True).returncode:
        sys.exit("No Slurm cluster answers: start one with scripts/start-slurm.sh (as root)")
    directory = tempfile.mkdtemp(prefix="lume-slurm-bench-")
    raw(5, directory)  # warm up both paths (imports, page cache, first scheduling)
    lume(5, directory)
    raw_times, lume_times, calls_per_cycle = [], [], []
    for repeat in range(args.repeats):
        # Alternate which side goes first, so neither always meets a warmer scheduler.
        if repeat % 2:
            lume_time, cycles, calls = lume(args.jobs, directory)
            raw_time, raw_polls = raw(args.jobs, directory)
        else:
            raw_time, raw_polls = raw(args.jobs, directory)
            lume_time, cycles, calls = lume(args.jobs, directory)
        raw_times.append(raw_time)
        lume_times.append(lume_time)
        calls_per_cycle.append(calls / cycles)
        print(f"run {repeat + 1}: raw {raw_time:6.2f} s ({raw_polls} squeue polls)   "
              f"lume-prefect {lume_time:6.2f} s ({cycles} poll cycles, {calls} scheduler commands)")
    shutil.rmtree(directory, ignore_errors=True)
    raw_median, lume_median = statistics.median(raw_times), statistics.median(lume_times)
    print(f"\n{args.jobs} jobs as one array, median of {args.repeats}:")
    print(f"  raw sbatch --array + squeue polling : {raw_median:6.2f} s")
    print(f"  lume-prefect SlurmCluster           : {lume_median:6.2f} s")
    print(f"  wall-time ratio lume/raw            : {lume_median / raw_median:6.3f}  (target <= 1.1)")
    print(f"  scheduler commands per poll cycle   : {max(calls_per_cycle):6.2f}  (target 1)")


if __name__ == "__main__":
    main()
