"""A scan from a user's script with no PREFECT_API_URL (Prefect's temporary server, the README's
default): the workers of a process pool or a Slurm job array find the saved services through
the scan's own temporary server, instead of each starting one of its own (a local Dask
cluster's workers too).

The script's Prefect database is on PostgreSQL (``PREFECT_SERVER_DATABASE_CONNECTION_URL``), so
the workers cannot read saved blocks straight from a SQLite file (``core.saved_blocks``): before
the fix each worker started a temporary server of its own, 30-60 s a worker here, and past
Prefect's 20 s default startup timeout on a busy machine the points failed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import pytest

from tests.models.conftest import ROOT

pytestmark = pytest.mark.slow

SCRIPT = textwrap.dedent('''
    import sys
    from pydantic import SecretStr
    from lume_prefect import register_model_version, run_scan
    from lume_prefect.files import LocalFiles
    from lume_prefect.registry import ModelRegistry
    from lume_prefect.results import SQLResults
    from lume_prefect.services import LumeServices
    from lume_prefect.slurm import SlurmCluster


    def main():
        home, executor = sys.argv[1], sys.argv[2]
        LumeServices(
            files=LocalFiles(basepath=f"{home}/files"),
            registry=ModelRegistry(url=SecretStr(f"sqlite:///{home}/registry.db")),
            results=SQLResults(url=SecretStr(f"sqlite:///{home}/results.db")),
        ).save("lab", overwrite=True)
        register_model_version("model.py:toy_beam", sys.argv[3], services="lab")
        options = {"slurm": SlurmCluster(working_dir=f"{home}/slurm", max_poll_interval=0.5), "job": {"time_limit": "00:10:00"}} if executor == "slurm" else {}
        scan = run_scan("toy-beam", {"sigma_x": [1e-3, 2e-3], "save_particles": [True]}, version="1.0.0", services="lab",
                        executor=executor, workers=2, batch_size=1, progress=False, **options)
        print("SCAN", scan.computed, scan.failed, [f.message for f in scan.failures])


    if __name__ == "__main__":  # a process pool's workers import this module again
        main()
''')


@pytest.mark.parametrize("executor", ["processes", "dask", "slurm"])
def test_a_scan_on_the_temporary_server_gives_its_workers_the_saved_services(executor, tmp_path):
    from tests.databases import fresh_database

    if executor == "slurm":
        from tests.slurm.conftest import ensure_slurm_up

        ensure_slurm_up()
    (tmp_path / "slurm").mkdir()
    (tmp_path / "scan.py").write_text(SCRIPT)
    with fresh_database("postgresql") as url:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}  # no API URL, no test mode
        env |= {
            "PREFECT_HOME": str(tmp_path / "prefect"),
            "LUME_PREFECT_HOME": str(tmp_path / "lume"),
            "PREFECT_SERVER_DATABASE_CONNECTION_URL": url.replace("postgresql+psycopg://", "postgresql+asyncpg://"),
            "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "300",  # a fresh database migrates on a busy machine
        }
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "scan.py", str(tmp_path), executor, str(ROOT / "flows" / "toy_beam")],
                              cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
        seconds = time.perf_counter() - started
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    assert "SCAN 2 0 []" in done.stdout, output[-4000:]
    # one temporary server, the script's: its workers talked to it (a Slurm element's stderr is a file of its own)
    assert output.count("Starting temporary server") == 1 and output.count("Stopping temporary server") == 1, output[-4000:]
    elements = "".join(p.read_text() for p in (tmp_path / "slurm").rglob("*.err"))
    assert "temporary server" not in elements, elements[-4000:]
    written = sorted(p.name for p in (tmp_path / "files" / "toy-beam" / "1.0.0").iterdir())
    assert written == ["particles-0.001-2.h5", "particles-0.002-2.h5"]
    print(f"{executor}: {seconds:.1f} s, load {os.getloadavg()[0]:.1f}")
