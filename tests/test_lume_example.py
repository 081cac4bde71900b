"""flows/lume/example.py runs end to end on embedded defaults, as the README says, and again
from its cache: the real lume-cheetah, lume-torch and Xopt."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from tests.components import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]  # two runs of the example, on a busy machine


def run_example(tmp_path) -> str:
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect"), "LUME_PREFECT_HOME": str(tmp_path / "lume-data")}
    for name in ("PREFECT_API_URL", "PREFECT_TEST_MODE", "LUME_SERVICES"):
        env.pop(name, None)  # the example must start its own ephemeral API, as for a user
    done = subprocess.run([sys.executable, str(ROOT / "flows" / "lume" / "example.py")], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def test_the_lume_example_registers_scans_trains_compares_and_optimises(tmp_path):
    from lume_prefect.results import SQLResultsStore

    out = run_example(tmp_path)
    assert "quad-screen 1.0.0: registered (lume-cheetah; batched: True)" in out
    assert "inputs: Q1:K1 [1/m^2]" in out and "outputs: SCREEN:SIGMA_X [m], SCREEN:SIGMA_Y [m]" in out
    assert re.search(r"scan of quad-screen: 121 points, 121 computed in \d+ batches, 0 cached, 0 failed", out), out
    sources = tmp_path / "lume-data" / "sources" / "quad-screen-surrogate-1.0.0"
    assert re.search(r"surrogate: trained on 121 points in [\d.]+ s", out) and (sources / "surrogate.yml").is_file()
    assert {p.suffix for p in sources.iterdir()} == {".yml", ".pt"}
    assert "quad-screen-surrogate 1.0.0 against quad-screen 1.0.0 on 120 held-out points" in out
    relative = {name: float(share) for name, share in re.findall(r"^\s+(SCREEN:SIGMA_[XY])\s+\S+\s+\S+\s+([\d.]+)%$", out, re.MULTILINE)}
    assert set(relative) == {"SCREEN:SIGMA_X", "SCREEN:SIGMA_Y"} and all(0 < share < 25 for share in relative.values()), out

    found = re.search(r"Xopt \(Nelder-Mead, (\d+) evaluations of quad-screen, tag (xopt:\w+)\):\n\s+Q1:K1 = (\S+) 1/m\^2 focuses the beam: "
                      r"SCREEN:SIGMA_X = (\S+) mm \(surrogate there: (\S+) mm\)", out)
    assert found, out
    evaluations, tag, k1, sigma_x = int(found[1]), found[2], float(found[3]), float(found[4]) * 1e-3
    store = SQLResultsStore(f"sqlite:///{tmp_path / 'lume-data' / 'results.db'}")
    scanned = [r.outputs["SCREEN:SIGMA_X"] for r in store.find(model="quad-screen", limit=None) if "xopt" not in " ".join(r.tags)]
    assert -30 <= k1 <= 30 and sigma_x <= min(scanned) * 1.01  # at least as focused as the best of the 241 scanned points
    assert 0 < store.count(tags=[tag]) <= evaluations  # every evaluation stored under the optimisation's tag (repeats once)

    again = run_example(tmp_path)
    assert "quad-screen 1.0.0: already registered" in again and "surrogate: quad-screen-surrogate 1.0.0 already registered" in again
    assert "121 points, 0 computed in 0 batches, 121 cached" in again
