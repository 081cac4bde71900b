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


@pytest.mark.slow
def test_scan_on_a_dask_cluster_class_with_its_kwargs_and_adaptive_scaling(lume):
    done = lume("scan", lume.model, "--grid", "k1=-2:4.5:3", "--grid", "length=0.1,0.2", "--executor", "dask",
                "--cluster-class", "distributed.LocalCluster",
                "--cluster-kwargs", '{"n_workers": 0, "threads_per_worker": 1, "processes": true, "dashboard_address": ":0"}',
                "--adapt-kwargs", '{"minimum": 0, "maximum": 2}', "--json")
    assert done.returncode == 0, done.stderr
    assert "distributed.scheduler - INFO" not in done.stderr  # the cluster's chatter stays out of the terminal
    summary = json.loads(done.stdout)
    assert (summary["executor"], summary["points"], summary["computed"], summary["failed"]) == ("dask", 6, 4, 2)
    assert summary["batches"] == 6  # sized for the adaptive maximum of 2 workers
    assert lume.services.results.store().count(tags=[summary["tag"]]) == 4
    # the kwargs reach the cluster class: one it does not take is the scan's error (after the
    # flow run's own log of its failure)
    bad = lume("scan", lume.model, "--grid", "k1=1,2", "--executor", "dask", "--cluster-class", "dask_jobqueue.SLURMCluster",
               "--cluster-kwargs", '{"cores": 1, "memory": "1GB", "no_such_option": 1}')
    assert bad.returncode == 1, bad.stderr
    assert "error: Got unexpected keyword argument 'no_such_option'" in bad.stderr, bad.stderr
    assert lume.services.results.store().count(model=lume.model) == 4


def test_bad_dask_cluster_options_are_one_line_errors_naming_the_option(lume):
    cases = [
        (["--executor", "dask", "--cluster-kwargs", "{cores: 1}"], "--cluster-kwargs is not valid JSON (Expecting property name enclosed in double quotes"),
        (["--executor", "dask", "--adapt-kwargs", "[0, 4]"], "--adapt-kwargs must be a JSON object, e.g. '{\"minimum\": 0, \"maximum\": 10}', got '[0, 4]'"),
        (["--executor", "dask", "--cluster-class", "distributed.NoSuchCluster"], "--cluster-class 'distributed.NoSuchCluster' cannot be imported"),
        (["--executor", "dask", "--cluster-class", "SLURMCluster"], "--cluster-class takes a class's full name, e.g. dask_jobqueue.SLURMCluster"),
        (["--cluster-class", "dask_jobqueue.SLURMCluster"], "--cluster-class, --cluster-kwargs and --adapt-kwargs are for --executor dask, got --executor in-process"),
        (["--executor", "dask", "--address", "tcp://127.0.0.1:8786", "--adapt-kwargs", '{"maximum": 2}'], "give either --address (a running Dask scheduler) or --cluster-class"),
    ]
    for options, message in cases:
        bad = lume("scan", lume.model, "--grid", "k1=1,2", *options)
        assert bad.returncode == 1 and message in " ".join(bad.stderr.split()) and "Traceback" not in bad.stderr, (options, bad.stderr)
    assert lume.services.results.store().count(model=lume.model) == 0
