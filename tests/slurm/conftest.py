"""Real components of the Slurm tests: the single-node cluster (scripts/start-slurm.sh), an sshd
and a slurmrestd started on free ports by the fixtures, and a real Prefect server for workers."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.components import ROOT, free_port, require

START_SLURM = "scripts/start-slurm.sh (as root)"


def slurm_is_up() -> bool:
    try:
        out = subprocess.run(["sinfo", "-h", "-N", "-o", "%T"], capture_output=True, text=True, timeout=10).stdout
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return False
    return any(state.strip().rstrip("*") in ("idle", "mixed", "allocated") for state in out.splitlines())


def ensure_slurm_up() -> None:
    """Bring the node back (e.g. after a fault test killed slurmd) or skip/fail saying how."""
    if slurm_is_up():
        return
    if os.geteuid() == 0 and shutil.which("sinfo"):
        subprocess.run(["bash", str(ROOT / "scripts/start-slurm.sh")], timeout=120, check=False)
    if not slurm_is_up():
        require("Slurm (munge, slurmctld, slurmd)", START_SLURM)


def kill_job_processes(job_id: str) -> None:
    """SIGKILL the processes of one Slurm job: they outlive a killed slurmd, hanging off slurmstepd."""
    kill_processes_with_env(f"SLURM_JOB_ID={job_id}")


def kill_processes_with_env(entry: str) -> None:
    """SIGKILL every process whose environment holds ``entry`` (``NAME=value``) exactly."""
    marker = f"{entry}\0".encode()
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            continue
        if environ.startswith(marker) or b"\0" + marker in environ:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass


@pytest.fixture(scope="session")
def slurm():
    """The running single-node Slurm cluster."""
    ensure_slurm_up()


@pytest.fixture
def workdir():
    """A fresh working directory on the 'shared filesystem' (this machine's disk)."""
    path = tempfile.mkdtemp(prefix="lume-slurm-test-")
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def wait_for_port(port: int, timeout: float = 20, process: subprocess.Popen | None = None) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process for port {port} exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


def stop(process: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class SSHServer:
    """A real OpenSSH sshd on 127.0.0.1:<free port>, with its own host key and one user key."""

    def __init__(self, directory: Path):
        sshd = shutil.which("sshd") or "/usr/sbin/sshd"
        if not os.path.exists(sshd) or not shutil.which("ssh-keygen"):
            require("sshd (openssh-server)", START_SLURM + ", which installs openssh-server")
        self.directory = directory
        self.port = free_port()
        self.user = os.environ.get("USER") or "root"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(directory / "host_key")], check=True)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(directory / "user_key")], check=True)
        (directory / "authorized_keys").write_text((directory / "user_key.pub").read_text())
        os.chmod(directory / "authorized_keys", 0o600)
        self.private_key = (directory / "user_key").read_text()
        host_public = (directory / "host_key.pub").read_text().split()
        self.known_hosts = directory / "known_hosts"
        self.known_hosts.write_text(f"[127.0.0.1]:{self.port} {host_public[0]} {host_public[1]}\n")
        config = directory / "sshd_config"
        config.write_text(
            f"Port {self.port}\nListenAddress 127.0.0.1\nHostKey {directory / 'host_key'}\n"
            f"AuthorizedKeysFile {directory / 'authorized_keys'}\nPidFile {directory / 'sshd.pid'}\n"
            "PasswordAuthentication no\nKbdInteractiveAuthentication no\nPubkeyAuthentication yes\n"
            "PermitRootLogin prohibit-password\nUsePAM no\nStrictModes no\nSubsystem sftp internal-sftp\n"
            "SetEnv PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin\n"
        )
        os.makedirs("/run/sshd", exist_ok=True)
        self.process = subprocess.Popen([sshd, "-D", "-e", "-f", str(config)], stdout=subprocess.DEVNULL, stderr=open(directory / "sshd.log", "wb"))
        wait_for_port(self.port, process=self.process)


@pytest.fixture(scope="session")
def sshd(tmp_path_factory):
    server = SSHServer(tmp_path_factory.mktemp("sshd"))
    yield server
    stop(server.process)


class SlurmRest:
    """slurmrestd on 127.0.0.1:<free port> (OpenAPI v0.0.38, JWT auth), run as nobody as it demands."""

    def __init__(self, directory: Path):
        executable = shutil.which("slurmrestd") or "/usr/sbin/slurmrestd"
        if not os.path.exists(executable) or os.geteuid() != 0:
            require("slurmrestd (run as root to start it as nobody)", START_SLURM)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.user = "root"
        token = subprocess.run(["scontrol", "token", f"username={self.user}", "lifespan=7200"], capture_output=True, text=True, check=True)
        self.token = token.stdout.strip().split("=", 1)[1]
        # Only the slurmctld API: the accounting one (dbv0.0.38) refuses to load without slurmdbd.
        self.process = subprocess.Popen(
            ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "env", "SLURM_JWT=daemon",
             executable, "-a", "rest_auth/jwt", "-s", "openapi/v0.0.38", f"127.0.0.1:{self.port}"],
            stdout=subprocess.DEVNULL, stderr=open(directory / "slurmrestd.log", "wb"),
        )
        wait_for_port(self.port, process=self.process)


@pytest.fixture(scope="session")
def slurmrestd(slurm, tmp_path_factory):
    server = SlurmRest(tmp_path_factory.mktemp("slurmrestd"))
    yield server
    stop(server.process)


@pytest.fixture
def python() -> str:
    """The ``python`` of a cluster reached over ssh or slurmrestd, which a remote cluster's block
    must name (its default is ``python3`` from the job's PATH): the "remote" node is this machine,
    so this venv's. Blocks of the ``local`` and ``subprocess`` transports need none."""
    return sys.executable
