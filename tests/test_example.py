"""The README's main command: flows/example.py runs end to end on embedded defaults."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from tests.components import ROOT

pytestmark = pytest.mark.slow


def test_the_example_runs_a_models_life_on_embedded_defaults(tmp_path):
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect"), "LUME_PREFECT_HOME": str(tmp_path / "lume-data")}
    for name in ("PREFECT_API_URL", "PREFECT_TEST_MODE", "LUME_SERVICES"):
        env.pop(name, None)  # the example must start its own ephemeral API, as for a user
    done = subprocess.run([sys.executable, str(ROOT / "flows" / "example.py")], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    assert "toy-beam 1.0.0: registered" in out and "toy-beam 1.1.0: registered" in out
    assert "live alias: 1.1.0 -> 1.0.0 (revert)" in out
    scan = re.findall(r"^\s+(\S+)\s+(\S+)\s+(in-process|cache hit)\s+(in-process|cache hit)$", out, re.MULTILINE)
    assert len(scan) == 4 and all(first == "in-process" and second == "cache hit" for *_, first, second in scan), out
    for sigma, rms, *_ in scan:  # a drift of 2 m at 0.1 mrad grows the beam a little, never shrinks it much
        assert 0.9 * float(sigma) < float(rms) < float(sigma) + 2 * 2.0 * 1e-4
    assert re.search(r"reproduce [0-9a-f]{12}: re-ran 1.1.0, outputs match", out)
    assert "6 results of toy-beam" in out
    files = tmp_path / "lume-data" / "files"
    assert (files / "plots" / "rms_x-vs-sigma_x.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (files / "toy-beam" / "1.0.0" / "particles-0.001-2.h5").stat().st_size > 100_000
