"""A private, throwaway PostgreSQL cluster on a free port, which a test may restart at will
(the shared server on 5432 is never touched)."""

from __future__ import annotations

import atexit
import glob
import os
import shutil
import subprocess
import tempfile
import time

from tests.components import free_port, require


class PrivatePostgres:
    def __init__(self) -> None:
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
        if not bins or os.geteuid() != 0 or shutil.which("runuser") is None:
            require("PostgreSQL server binaries (initdb, pg_ctl) run as root", "apt-get install postgresql")
        self.bin = bins[-1]
        self.port = free_port()
        self.data = tempfile.mkdtemp(prefix="lume-private-pg-")
        shutil.chown(self.data, "postgres", "postgres")
        self._as_postgres("initdb", "-D", self.data, "--auth=trust", "--no-sync", "-U", "postgres")
        atexit.register(self.remove)  # also when the session ends without its teardown
        self.start()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _as_postgres(self, tool: str, *args: str) -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", f"{self.bin}/{tool}", *args],
            check=True, capture_output=True, timeout=120, cwd="/tmp",
        )

    def start(self) -> None:
        options = f"-p {self.port} -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off"
        self._as_postgres("pg_ctl", "-D", self.data, "-o", options, "-l", f"{self.data}/log", "-w", "start")

    def stop(self) -> None:
        self._as_postgres("pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop")

    def restart(self, down_for: float) -> float:
        """Stop (closing every connection), stay down ``down_for`` seconds, start; the outage in seconds."""
        began = time.monotonic()
        self.stop()
        time.sleep(down_for)
        self.start()
        return time.monotonic() - began

    def remove(self) -> None:
        if not os.path.isdir(self.data):
            return
        try:
            self.stop()
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.data, ignore_errors=True)
