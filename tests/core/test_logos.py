"""Block logos offline (issue 12.9): Prefect's UI shows a broken image for a logo URL it cannot
reach, so ``LUME_PREFECT_BLOCK_LOGOS=off`` gives every block no logo (the UI's own icon)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.unit

SHOW = (
    "import json; from lume_prefect import LocalFiles, ModelRegistry, SQLResults, SlurmCluster, LumeServices;"
    "print(json.dumps({c.__name__: c._logo_url and str(c._logo_url) for c in (LocalFiles, ModelRegistry, SQLResults, SlurmCluster, LumeServices)}))"
)


def logos(value: str | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "LUME_PREFECT_BLOCK_LOGOS"}
    if value is not None:
        env["LUME_PREFECT_BLOCK_LOGOS"] = value
    return subprocess.run([sys.executable, "-c", SHOW], capture_output=True, text=True, env=env, timeout=120)


def test_online_by_default_off_for_control_rooms_or_a_facility_server():
    online = json.loads(logos(None).stdout)
    assert all(url.startswith("https://raw.githubusercontent.com/PrefectHQ/prefect/") for url in online.values())
    assert set(json.loads(logos("off").stdout).values()) == {None}
    own = json.loads(logos("http://intranet.lab/lume-logos/").stdout)
    assert own["SlurmCluster"] == "http://intranet.lab/lume-logos/shell.png"


def test_a_bad_setting_names_the_variable():
    failed = logos("ftp://x")
    assert failed.returncode != 0 and "LUME_PREFECT_BLOCK_LOGOS='ftp://x'" in failed.stderr
