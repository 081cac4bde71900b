"""Real processes racing on one database: no lost writes, no duplicate versions, one schema."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.components import ROOT
from tests.registry.conftest import row_counts

pytestmark = pytest.mark.slow


def race(url: str, tmp_path: Path, *commands: list[str]) -> list[dict]:
    """Start one racer per command, let them all go at once, return their results."""
    go = tmp_path / "go"
    racers = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.registry.racer", url, str(go), *command],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for command in commands
    ]
    try:
        for racer in racers:
            line = racer.stdout.readline()
            assert line == "ready\n", f"racer failed to start: {line}{racer.stderr.read()}"
        go.touch()
        outputs = [racer.communicate(timeout=120) for racer in racers]
    finally:
        for racer in racers:
            if racer.poll() is None:
                racer.kill()
    for racer, (_, err) in zip(racers, outputs):
        assert racer.returncode == 0, err
    return [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]


def test_two_processes_register_the_same_version(injector, db_url, tmp_path):
    results = race(db_url, tmp_path, ["register", "injector", "2.0"], ["register", "injector", "2.0.0"])
    winners = [r for r in results if r["ok"]]
    losers = [r for r in results if not r["ok"]]
    assert len(winners) == 1 and len(losers) == 1, results
    assert losers[0]["error"] == "VersionExists"
    assert "'injector' already has version" in losers[0]["message"]
    assert row_counts(db_url)["versions"] == 4
    assert injector.latest_version("injector").version == winners[0]["version"]


def test_two_processes_promoting_lose_no_history(injector, db_url, tmp_path):
    injector.register_version("injector", "2.0", source="s", entrypoint="m:f")
    rounds = 15
    # Each racer alternates between its own two versions, so every promotion is a real change.
    results = race(
        db_url, tmp_path,
        ["promote", "injector", "1.0", "1.9", "--rounds", str(rounds)],
        ["promote", "injector", "1.10", "2.0", "--rounds", str(rounds)],
    )
    assert all(r["ok"] for r in results), results
    history = injector.history("injector")
    assert len(history) == 2 * rounds
    assert sorted(h.id for h in history) == sorted(i for r in results for i in r["changes"])
    # Each change starts where the previous one ended: no promotion read a stale "live".
    assert history[0].from_version is None
    for earlier, later in zip(history, history[1:]):
        assert later.from_version == earlier.to_version
    assert injector.live_version("injector").version == history[-1].to_version
    assert {h.changed_by for h in history} == {f"racer-{r['pid']}" for r in results}


def test_two_processes_first_use_of_an_empty_database(db_url, tmp_path):
    results = race(db_url, tmp_path, ["first-use"], ["first-use"])
    assert results == [{"pid": results[0]["pid"], "models": 0, "ok": True}, {"pid": results[1]["pid"], "models": 0, "ok": True}]
    assert row_counts(db_url)["models"] == 0
