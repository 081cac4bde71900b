"""``results list``/``show`` keep a value's type: a float input 1.0 is 1.0 (JSON and table), an
int 2 is 2, as every store gives them back."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.unit


def _cli(*args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "LUME_"))} | {"COLUMNS": "300"}
    done = subprocess.run([sys.executable, "-m", "lume_prefect.cli", *args], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_float_input_stays_a_float_in_json_and_in_the_table(tmp_path):
    from lume_prefect.results.result import Result
    from lume_prefect.results.sql import SQLResultsStore

    url = f"sqlite:///{tmp_path / 'results.db'}"
    store = SQLResultsStore(url)
    key = store.insert(Result(model="m", version="1", inputs={"x": 1.0, "n": 2, "v": [1.0, 2.5]}, outputs={"y": 3.0, "big": 1e20}))
    stored = store.get(key)
    store.close()
    assert type(stored.inputs["x"]) is float and type(stored.inputs["n"]) is int  # as the store gives them back

    listed = _cli("results", "list", "--url", url, "--json")
    row = json.loads(listed)[0]
    assert type(row["inputs.x"]) is float and type(row["inputs.n"]) is int and row["inputs.v"] == [1.0, 2.5]
    assert '"inputs.x": 1.0' in listed and '"inputs.n": 2,' in listed and '"outputs.y": 3.0' in listed
    shown = _cli("results", "show", key[:12], "--url", url, "--json")
    assert '"x": 1.0' in shown and '"n": 2' in shown

    table = _cli("results", "show", key[:12], "--url", url)
    cells = dict([c.strip() for c in line.split("\u2502")[1:3]] for line in table.splitlines() if line.count("\u2502") >= 3)
    assert cells["inputs.x"] == "1.0" and cells["inputs.n"] == "2" and cells["outputs.y"] == "3.0" and cells["outputs.big"] == "1e+20"
