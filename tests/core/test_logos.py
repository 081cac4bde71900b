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


def block_type_logos(api_url: str) -> dict[str, str | None]:
    import httpx

    response = httpx.post(f"{api_url}/block_types/filter", json={}, timeout=60)
    response.raise_for_status()
    return {t["slug"]: t["logo_url"] for t in response.json() if t["slug"].startswith("lume-")}


@pytest.mark.slow
def test_a_changed_setting_is_applied_at_the_next_server_start_and_profiles_apply_keeps_it(tmp_path, monkeypatch):
    """Prefect skips re-registering block types whose registry it has seen (its memo store):
    restarting the same server with another LUME_PREFECT_BLOCK_LOGOS must still apply it, and
    a `profiles apply` from a shell without the variable must not put the URLs back."""
    from tests.components import ROOT, PrefectServer, venv_script

    def started(setting: str | None) -> PrefectServer:
        if setting is None:
            monkeypatch.delenv("LUME_PREFECT_BLOCK_LOGOS", raising=False)
        else:
            monkeypatch.setenv("LUME_PREFECT_BLOCK_LOGOS", setting)
        return PrefectServer(tmp_path)  # the same home and database each time

    server = started(None)
    try:
        online = block_type_logos(server.api_url)
        assert len(online) >= 8 and all(url.startswith("https://raw.githubusercontent.com/PrefectHQ/") for url in online.values())
    finally:
        server.stop()
    assert (tmp_path / "memo_store.toml").exists()  # Prefect's memo: a plain restart would register nothing

    server = started("off")
    try:
        assert set(block_type_logos(server.api_url).values()) == {None}
        shell = {k: v for k, v in server.env.items() if k != "LUME_PREFECT_BLOCK_LOGOS"}
        shell.update(PREFECT_HOME=str(tmp_path / "shell"), LUME_PREFECT_HOME=str(tmp_path / "lume"))
        applied = subprocess.run([venv_script("lume-prefect"), "profiles", "apply", str(ROOT / "blocks/local.yaml")],
                                 env=shell, capture_output=True, text=True, timeout=300)
        assert applied.returncode == 0, applied.stdout + applied.stderr
        assert set(block_type_logos(server.api_url).values()) == {None}  # the server's choice, not the shell's
    finally:
        server.stop()

    server = started("https://intranet.lab/logos")
    try:
        assert block_type_logos(server.api_url)["lume-slurm-cluster"] == "https://intranet.lab/logos/shell.png"
    finally:
        server.stop()
