"""`lume-prefect scan` as a user runs it, against the session's Prefect API."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas
import pytest

from lume_prefect.cli.scan import parse_axis

pytestmark = pytest.mark.prefect


@pytest.fixture
def lume(services_on):
    from prefect.settings import PREFECT_API_URL

    services, model = services_on()
    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value(), "LUME_SERVICES": services._block_document_name, "PREFECT_LOGGING_LEVEL": "WARNING"}
    env.pop("PREFECT_TEST_MODE", None)

    def call(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "lume_prefect.cli", *args], capture_output=True, text=True, env=env, timeout=180)

    call.services, call.model = services, model
    return call


@pytest.mark.unit
def test_grid_axes_parse_lists_and_ranges():
    assert parse_axis("k1=1,2.5,-3") == ("k1", [1, 2.5, -3])
    assert parse_axis("k1=0:1:5") == ("k1", [0.0, 0.25, 0.5, 0.75, 1.0])
    assert parse_axis("label=a,b") == ("label", ["a", "b"])
    with pytest.raises(ValueError, match="NAME=V1,V2"):
        parse_axis("k1")
    with pytest.raises(ValueError, match="START:STOP:NUM needs two numbers"):
        parse_axis("k1=a:b:c")


def test_scan_a_grid_then_again_cached_with_output_and_json(lume, tmp_path):
    output = tmp_path / "scan.csv"
    first = lume("scan", lume.model, "--grid", "k1=-2:4.5:3", "--grid", "length=0.1,0.2", "--output", str(output), "--json")
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout)
    assert (summary["points"], summary["computed"], summary["failed"]) == (6, 4, 2)
    assert summary["failures"][0]["error"] == "ValueError: unstable lattice at k1=4.5"
    frame = pandas.read_csv(output)
    assert list(frame["inputs.k1"]) == [-2.0, -2.0, 1.25, 1.25, 4.5, 4.5] and list(frame["status"][:4]) == ["computed"] * 4
    assert lume.services.results.store().count(tags=[summary["tag"]]) == 4

    points = tmp_path / "points.csv"
    pandas.DataFrame({"k1": [-2.0, 1.25, 3.0], "length": [0.1, 0.2, 0.3]}).to_csv(points, index=False)
    again = lume("scan", lume.model, "--points", str(points))
    assert again.returncode == 0, again.stderr
    assert "cached" in again.stdout and "find them with: lume-prefect results list --tag scan:" in again.stdout
    assert lume.services.results.store().count(model=lume.model) == 5  # two cached, one new


def test_bad_scans_are_one_line_errors(lume):
    bad = lume("scan", lume.model, "--grid", "k1=1,9", "--grid", "length=0.1,7")
    assert bad.returncode == 1
    assert "3 of 4 points are invalid; nothing was run" in bad.stderr and "point 2: k1 = 9.0 is outside its range [-5, 5] 1/m^2" in bad.stderr and "point 1: length = 7.0" in bad.stderr
    assert "Traceback" not in bad.stderr
    neither = lume("scan", lume.model)
    assert neither.returncode == 1 and "give either --grid" in neither.stderr
    empty = lume("scan", lume.model, "--grid", "k1=0:1:0")
    assert empty.returncode == 1 and "NUM must be at least 1" in empty.stderr
