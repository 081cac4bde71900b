"""Benchmark: store-only commands with no Prefect server configured, against ``lume-prefect --help``.

    .venv/bin/python benchmarks/cli.py              # 5 rounds
    .venv/bin/python benchmarks/cli.py --rounds 3

Each command runs as a user runs it: a fresh process of ``python -m lume_prefect.cli``, no
``PREFECT_API_URL``, a fresh ``PREFECT_HOME`` and ``LUME_PREFECT_HOME`` (the embedded ``local``
services). Rounds interleave the commands so they see the same machine load; the table gives
each command's median wall time and its ratio to ``--help`` measured in the same rounds.
Two states are timed: no Prefect database at all (a first command), and a Prefect database
holding a saved ``local`` services block (what a user has after saving one), read without a
server.

CPU time (user + system of the command's process) is printed beside wall time: on a machine
shared with other work it shows what the command itself costs.

Targets (issue 19.1): each store-only command <= 1.5 s, or <= 2x ``--help``; no server starts.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COMMANDS = [
    ["--help"],
    ["models", "list"],
    ["models", "versions", "toy-beam"],
    ["registry", "status"],
    ["results", "list"],
    ["files", "ls", "local-files"],
]


def environment(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_API_URL", "PREFECT_SERVER_DATABASE", "LUME_"))}
    env.update(PREFECT_HOME=str(home / "prefect"), LUME_PREFECT_HOME=str(home / "lume"), COLUMNS="200",
               PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="300")  # preparing a saved block starts one, once
    return env


def timed(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall time and CPU time (user + system) of one command's process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "lume_prefect.cli", *args], capture_output=True, text=True, env=env, timeout=600)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if "temporary server" in done.stderr.lower():
        raise SystemExit(f"lume-prefect {' '.join(args)} started a temporary server:\n{done.stderr}")
    if done.returncode != 0:
        raise SystemExit(f"lume-prefect {' '.join(args)} failed:\n{done.stderr}")
    return elapsed, cpu


def prepare(env: dict[str, str], with_saved_local: bool) -> None:
    """A registered model; with ``with_saved_local``, a saved ``local`` block and a file block
    (this once starts Prefect's temporary server, outside the timing)."""
    source = Path(__file__).resolve().parents[1] / "flows" / "toy_beam"
    subprocess.run([sys.executable, "-m", "lume_prefect.cli", "deploy", "model.py:toy_beam", "--source", str(source), "--no-deployment"],
                   check=True, capture_output=True, env=env, timeout=600)
    if with_saved_local:
        code = (
            "from lume_prefect.services import local_services; from lume_prefect import LocalFiles; "
            "s = local_services(); s.save('local', overwrite=True); "
            "LocalFiles(basepath=s.files.basepath).save('local-files', overwrite=True)"
        )
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, env=env, timeout=600)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    options = parser.parse_args()
    for state, saved in (("no Prefect database", False), ("saved local block in Prefect's database", True)):
        with tempfile.TemporaryDirectory(prefix="lume-bench-cli-") as tmp:
            env = environment(Path(tmp))
            prepare(env, saved)
            commands = COMMANDS if saved else [c for c in COMMANDS if c[0] != "files"]  # a file block is a saved one
            times: dict[str, list[tuple[float, float]]] = {" ".join(c): [] for c in commands}
            for _ in range(options.rounds):
                for command in commands:
                    times[" ".join(command)].append(timed(command, env))
            help_wall = statistics.median(w for w, _ in times["--help"])
            help_cpu = statistics.median(c for _, c in times["--help"])
            print(f"\n{state} ({options.rounds} rounds, medians; load average {os.getloadavg()[0]:.1f})")
            print(f"{'command':<38} {'wall s':>7} {'x --help':>9} {'CPU s':>7} {'x --help':>9}")
            for name, values in times.items():
                wall, cpu = statistics.median(w for w, _ in values), statistics.median(c for _, c in values)
                print(f"{'lume-prefect ' + name:<38} {wall:7.2f} {wall / help_wall:8.2f}x {cpu:7.2f} {cpu / help_cpu:8.2f}x")


if __name__ == "__main__":
    main()
