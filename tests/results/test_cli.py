"""``lume-prefect results`` on a real SQLite store, in-process (the block form is in test_prefect)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from lume_prefect.cli import app
from lume_prefect.results import Result, SQLResultsStore

pytestmark = pytest.mark.unit


@pytest.fixture
def url(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path}/results.sqlite"
    store = SQLResultsStore(url)
    store.insert_many(
        Result(model="injector", version="1", inputs={"charge": float(q), "sol": {"b": 0.2}},
               outputs={"emittance": 1e-6 * (1 + q * q), "profile": np.arange(3.0)}, tags=["scan"])
        for q in range(4)
    )
    store.close()
    monkeypatch.setenv("LUME_RESULTS_URL", url)
    monkeypatch.setenv("COLUMNS", "200")
    return url


def run(capsys, *args: str) -> tuple[int, str, str]:
    try:
        app(["results", *args])
        code = 0
    except SystemExit as exit:
        code = exit.code or 0
    out, err = capsys.readouterr()
    return code, out, err


def test_list_and_show(url, capsys):
    code, out, _ = run(capsys, "list", "--input", "charge=2", "--json")
    rows = json.loads(out)
    assert code == 0 and len(rows) == 1 and rows[0]["inputs.charge"] == 2.0 and rows[0]["outputs.profile"] == [0.0, 1.0, 2.0]
    code, out, _ = run(capsys, "show", rows[0]["key"], "--json")
    shown = json.loads(out)
    assert code == 0 and shown["inputs"] == {"charge": 2.0, "sol": {"b": 0.2}} and shown["tags"] == ["scan"]
    code, out, _ = run(capsys, "list", "--model", "injector", "--limit", "2")
    assert code == 0 and "2 results" in out and "inputs.charge" in out


@pytest.mark.parametrize("suffix", ["csv", "parquet", "json"])
def test_export_formats(url, tmp_path, capsys, suffix):
    target = tmp_path / f"out.{suffix}"
    code, out, _ = run(capsys, "export", str(target), "--tag", "scan")
    assert code == 0 and "4 results written" in out
    frame = {"csv": pd.read_csv, "parquet": pd.read_parquet, "json": pd.read_json}[suffix](target)
    assert frame["inputs.charge"].tolist() == [0.0, 1.0, 2.0, 3.0]  # oldest first
    assert json.loads(frame["outputs.profile"][0]) == [0.0, 1.0, 2.0] if suffix != "json" else list(frame["outputs.profile"][0]) == [0.0, 1.0, 2.0]


def test_plot_writes_a_png(url, tmp_path, capsys):
    for kind in ("scatter", "history"):
        target = tmp_path / f"{kind}.png"
        extra = ["--x", "charge"] if kind == "scatter" else []
        code, out, err = run(capsys, "plot", str(target), "--y", "emittance", "--kind", kind, *extra)
        assert code == 0, err
        assert target.read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["list", "--since", "yesterday"], "since: 'yesterday' is not an ISO-8601"),
        (["show", "abc"], "key: must be a result key: 64 hex digits, or its first 4 or more"),
        (["show", "xyz1234"], "key: must be a result key"),
        (["show", "f" * 64], "no result with key"),
        (["export", "out.xlsx"], "cannot tell the format"),
        (["plot", "p.png", "--y", "nothing", "--x", "charge"], "no column 'nothing'"),
        (["list", "--input", "charge"], "--input must be NAME=VALUE"),
    ],
)
def test_errors_are_one_clear_line(url, capsys, args, message):
    code, _, err = run(capsys, *args)
    assert code == 1
    assert message in " ".join(err.split())


def test_no_store_configured(monkeypatch, capsys):
    monkeypatch.delenv("LUME_RESULTS_URL", raising=False)
    monkeypatch.setenv("LUME_RESULTS_STORE", "none")
    code, _, err = run(capsys, "list")
    assert code == 1 and "no results store" in err
