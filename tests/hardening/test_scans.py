"""Scans, round 2 (issue 21): a scan too large for memory is refused before its points are
built, and ``timeout`` means seconds per batch wherever it is accepted."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pandas
import pytest

from lume_prefect.scans.errors import TooManyPoints
from tests.scans.conftest import quad_services, services_with_live_code  # noqa: F401 - quad_services is a fixture

HANGS = '''
import time

from lume_prefect.models import ModelSpec

spec = ModelSpec(name="{name}", version="1.0.0", author="tests", laboratory="test", facility="test", beampath="test",
                 inputs=[{{"name": "x", "range": [0, 100]}}], outputs=[{{"name": "y"}}])


@spec.flow
def hangs(x: float) -> dict:
    while x == 13:  # never returns
        time.sleep(0.05)
    return {{"y": 2 * x}}
'''


@pytest.mark.unit
def test_a_huge_grid_is_refused_before_its_points_are_built():
    from lume_prefect.scans.points import MAX_POINTS, as_points

    started = time.monotonic()
    with pytest.raises(TooManyPoints) as info:
        as_points("m", {"a": range(10_000), "b": range(10_000)})
    assert time.monotonic() - started < 1
    assert str(info.value).startswith(f"scan of model 'm': the grid has 100,000,000 points, above the limit of {MAX_POINTS:,}; nothing was run")
    assert "max_points=100000000" in str(info.value) and "--max-points 100000000" in str(info.value)
    assert isinstance(info.value, ValueError)
    with pytest.raises(TooManyPoints, match="the grid has 12 points, above the limit of 10"):
        as_points("m", {"a": [1, 2, 3], "b": iter([1, 2, 3, 4])}, max_points=10)  # an iterator axis, counted as it is listed
    assert len(as_points("m", {"a": [1, 2, 3], "b": [1, 2, 3, 4]}, max_points=12)) == 12


@pytest.mark.unit
@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_points_table_above_the_limit_is_refused_before_it_is_read(tmp_path, suffix):
    from lume_prefect.scans.points import as_points

    path = tmp_path / f"points{suffix}"
    frame = pandas.DataFrame({"x": [float(i) for i in range(12)]})
    frame.to_csv(path, index=False) if suffix == ".csv" else frame.to_parquet(path)
    with pytest.raises(TooManyPoints, match=f"points file '{path}' has 12 points, above the limit of 10"):
        as_points("m", str(path), max_points=10)
    assert len(as_points("m", str(path), max_points=12)) == 12
    with pytest.raises(TooManyPoints, match="the table has 12 points"):
        as_points("m", frame, max_points=11)
    with pytest.raises(TooManyPoints, match="the list has 12 points"):
        as_points("m", frame.to_dict(orient="records"), max_points=11)


@pytest.mark.unit
@pytest.mark.parametrize("ending", ["\r", "\r\n", "\n"])
def test_a_points_csv_is_counted_before_it_is_read_whatever_its_line_endings(tmp_path, ending):
    """pandas reads a lone CR as a line end: such a file was counted as no rows, then read whole."""
    from lume_prefect.scans.points import as_points

    path = tmp_path / "points.csv"
    path.write_bytes(("x" + ending + ending.join(str(i) for i in range(12))).encode())  # no line end after the last row
    with pytest.raises(TooManyPoints, match=f"points file '{path}' has 12 points, above the limit of 10"):
        as_points("m", str(path), max_points=10)
    assert [p["x"] for p in as_points("m", str(path), max_points=12)] == list(range(12))


@pytest.mark.unit
def test_a_huge_cr_only_points_csv_is_refused_without_being_read():
    import tempfile
    import tracemalloc
    from pathlib import Path

    from lume_prefect.scans.points import MAX_POINTS, as_points

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "points.csv"
        path.write_bytes(b"x\r" + b"1\r" * (2 * MAX_POINTS))  # 4 MB, 2 million points
        tracemalloc.start()
        try:
            with pytest.raises(TooManyPoints, match=f"points file '{path}' has 2,000,000 points, above the limit of 1,000,000"):
                as_points("m", str(path))
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert peak < 4 * 2**20, peak  # counted in 1 MiB chunks; pandas would build 2 million rows (16 MB of int64 alone)


@pytest.mark.unit
def test_a_crlf_split_between_two_counted_chunks_is_one_line_end(tmp_path):
    from lume_prefect.scans.points import as_points

    rows = 400_000
    data = b"xyz\r\n" + b"1\r\n" * rows  # the CR of one row is the last byte of the first 1 MiB chunk
    assert data[(1 << 20) - 1 : (1 << 20) + 1] == b"\r\n"
    path = tmp_path / "points.csv"
    path.write_bytes(data)
    with pytest.raises(TooManyPoints, match=f"has {rows:,} points, above the limit of {rows - 1:,}"):
        as_points("m", str(path), max_points=rows - 1)
    assert len(as_points("m", str(path), max_points=rows)) == rows


@pytest.mark.unit
@pytest.mark.parametrize("ending", ["\n", "\r\n", "\r"])
def test_a_points_csv_is_counted_in_rows_not_lines(tmp_path, ending):
    """A quoted value may hold line breaks and a blank line is no row, as pandas (and the csv
    module) read them: such a file within the limit was refused, its lines counted as points."""
    from lume_prefect.scans.points import as_points

    path = tmp_path / "points.csv"
    rows = [f'{i},"first line{ending}second, line{ending}third"' for i in range(12)]
    path.write_bytes(ending.join(["x,note", *rows[:6], "", *rows[6:], ""]).encode())  # a blank line amid them
    points = as_points("m", str(path), max_points=12)
    assert [p["x"] for p in points] == list(range(12))
    assert points[0]["note"].splitlines() == ["first line", "second, line", "third"]
    with pytest.raises(TooManyPoints, match=f"points file '{path}' has 12 points, above the limit of 11"):
        as_points("m", str(path), max_points=11)


@pytest.mark.unit
def test_a_points_csv_that_the_csv_module_cannot_read_is_a_value_error_naming_it(tmp_path):
    import csv

    from lume_prefect.scans.points import as_points

    path = tmp_path / "points.csv"
    path.write_text("x,note\n" + "1,short\n" * 3 + '2,"' + "y" * (csv.field_size_limit() + 1) + '"\n')
    with pytest.raises(ValueError, match=f"points file '{path}' cannot be read as csv: field larger than field limit"):
        as_points("m", str(path), max_points=2)


@pytest.mark.unit
@pytest.mark.parametrize("max_points", [0, -1, 1.5, "10"])
def test_max_points_must_be_a_positive_int(max_points):
    from lume_prefect.scans.points import check_max_points

    with pytest.raises(ValueError, match=f"max_points must be a positive int, got {max_points!r}"):
        check_max_points(max_points)


@pytest.mark.prefect
def test_run_scan_refuses_a_huge_grid_and_runs_it_when_asked(quad_services):
    from lume_prefect.scans import run_scan

    services, model = quad_services
    started = time.monotonic()
    with pytest.raises(TooManyPoints, match="the grid has 100,000,000 points"):
        run_scan(model, {"k1": [0.1 + i * 1e-6 for i in range(10_000)], "length": [0.1 + i * 1e-5 for i in range(10_000)]}, services=services)
    assert time.monotonic() - started < 5
    with pytest.raises(TooManyPoints, match="the grid has 6 points, above the limit of 5"):
        run_scan(model, {"k1": [1.0, 2.0, 3.0], "length": [0.1, 0.2]}, services=services, max_points=5)
    assert services.results.store().count(model=model) == 0
    assert run_scan(model, {"k1": [1.0, 2.0, 3.0], "length": [0.1, 0.2]}, services=services, max_points=6).computed == 6


@pytest.mark.prefect
def test_the_cli_refuses_a_huge_grid_and_a_missing_output_directory_before_running(quad_services, tmp_path):
    from prefect.settings import PREFECT_API_URL

    services, model = quad_services
    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value(), "LUME_SERVICES": services._block_document_name, "PREFECT_LOGGING_LEVEL": "WARNING"}
    env.pop("PREFECT_TEST_MODE", None)

    def lume(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "lume_prefect.cli", *args], capture_output=True, text=True, env=env, timeout=180)

    started = time.monotonic()
    huge = lume("scan", model, "--grid", "k1=0:1:100000000")
    assert time.monotonic() - started < 60
    assert huge.returncode == 1 and huge.stderr.strip().splitlines() == [
        f"error: scan of model {model!r}: the grid has 100,000,000 points, above the limit of 1,000,000; nothing was run. "
        "Split it, or pass max_points=100000000 (lume-prefect scan --max-points 100000000) to run it anyway"
    ]
    missing = lume("scan", model, "--grid", "k1=1,2", "--output", str(tmp_path / "missing" / "x.csv"))
    assert missing.returncode == 1
    assert missing.stderr.strip() == f"error: --output {tmp_path / 'missing' / 'x.csv'}: the directory {tmp_path / 'missing'} does not exist; nothing was run"
    assert services.results.store().count(model=model) == 0  # nothing ran
    assert not (tmp_path / "missing").exists()
    ok = lume("scan", model, "--grid", "k1=1,2", "--grid", "length=0.1,0.2", "--max-points", "4", "--output", str(tmp_path / "x.csv"))
    assert ok.returncode == 0, ok.stderr
    assert len(pandas.read_csv(tmp_path / "x.csv")) == 4


@pytest.mark.prefect
def test_an_in_process_batch_past_its_timeout_is_interrupted_and_the_scan_goes_on(tmp_path):
    from lume_prefect.scans import run_scan

    services, model = services_with_live_code(tmp_path, HANGS, "hangs")
    started = time.monotonic()
    scan = run_scan(model, [{"x": 1.0}, {"x": 13.0}, {"x": 2.0}], services=services, batch_size=1, timeout=2)
    assert time.monotonic() - started < 30
    assert (scan.computed, scan.failed) == (2, 1)
    failure = scan.failures[0]
    assert (failure.index, failure.error_type) == (1, "TimeoutError")
    assert failure.message == "batch 1 (1 points) not finished after 2 s; interrupted"
    assert services.results.store().count(model=model) == 2


@pytest.mark.unit
@pytest.mark.parametrize("executor", ["processes", "dask", "slurm"])
def test_a_timeout_is_refused_where_it_cannot_be_enforced(executor):
    from lume_prefect.scans.executors import check_scan_timeout

    with pytest.raises(ValueError, match=f"executor={executor!r} cannot stop a running batch"):
        check_scan_timeout(5, executor)
    assert check_scan_timeout(None, executor) is None
    assert check_scan_timeout(5, "in-process") == check_scan_timeout(5, "deployment") == 5.0


@pytest.mark.unit
@pytest.mark.parametrize("timeout", [0, -1, float("nan"), "abc"])
def test_a_scan_timeout_must_be_a_positive_number(timeout):
    from lume_prefect.scans.executors import check_scan_timeout

    with pytest.raises(ValueError, match="timeout must be a positive number of seconds"):
        check_scan_timeout(timeout, "in-process")
