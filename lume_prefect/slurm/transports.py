"""How Slurm is reached: its commands on this machine, over SSH, through slurmrestd, or no Slurm at all.

Each backend does the same five things: submit a script, query many jobs in **one**
scheduler call, cancel, and read/write files in the cluster's working directory. Commands
are argument lists; over SSH they are joined with ``shlex.join`` so the remote shell sees
exactly those arguments. No Prefect here.
"""

from __future__ import annotations

import abc
import io
import itertools
import os
import re
import shlex
import signal
import subprocess
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Optional

from lume_prefect.slurm.errors import SlurmCommandError, TransportError
from lume_prefect.slurm.job import SlurmJob, sbatch_options
from lume_prefect.slurm.states import SQUEUE_FORMAT, JobStatus, parse_rest_jobs, parse_squeue


class SlurmBackend(abc.ABC):
    """Submit, query, cancel, and the files of the shared working directory."""

    #: Scheduler calls issued so far (sbatch, squeue, scancel or REST requests).
    scheduler_calls: int = 0

    @abc.abstractmethod
    def submit(self, script: str, job: SlurmJob, output_prefix: str) -> str:
        """Submit ``script``; returns the job id."""

    @abc.abstractmethod
    def query(self, job_ids: Sequence[str]) -> dict[str, JobStatus]:
        """Statuses of ``job_ids`` (array elements expanded) in one scheduler call; unknown ids are absent."""

    @abc.abstractmethod
    def cancel(self, job_ids: Sequence[str]) -> dict[str, str]:
        """Cancel jobs; returns the ids that were not cancelled, each with why ("unknown": Slurm
        does not know it; "finished": it had already ended)."""

    def free_slots(self, partition: Optional[str] = None) -> Optional[int]:
        """How many one-CPU jobs the partition (default: the cluster's default) can start now;
        None when unknown. Used to spread mapped calls over the cluster."""
        return None

    @abc.abstractmethod
    def read_bytes(self, path: str) -> Optional[bytes]:
        """The file's bytes, or None when it does not exist."""

    @abc.abstractmethod
    def write_bytes(self, path: str, data: bytes) -> None:
        """Write a file atomically, creating its directory."""

    def read_text(self, path: str) -> Optional[str]:
        data = self.read_bytes(path)
        return None if data is None else data.decode(errors="replace")

    @abc.abstractmethod
    def find_files(self, directory: str, names: Sequence[str]) -> list[str]:
        """Paths of the files directly in ``directory`` whose names match a glob of ``names``."""

    def close(self) -> None:
        """Release connections."""


_SCANCEL_ERROR = re.compile(r"on job id (\S+): (.*)")


def parse_scancel_errors(stderr: str) -> dict[str, str]:
    """Job ids scancel did not cancel, from its stderr: "unknown" or "finished"."""
    not_cancelled = {}
    for match in _SCANCEL_ERROR.finditer(stderr):
        job_id, why = match.group(1), match.group(2).lower()
        if "invalid job id" in why:
            not_cancelled[job_id] = "unknown"
        elif "already complet" in why:
            not_cancelled[job_id] = "finished"
    return not_cancelled


def free_slots_from_sinfo(output: str, partition: Optional[str]) -> Optional[int]:
    """Free one-CPU job slots from ``sinfo --format=%P|%C|%h``: the partition's idle CPUs (all its
    CPUs when none is idle: jobs queue for them) times its oversubscription (``FORCE:4`` → 4)."""
    for line in output.splitlines():
        fields = line.strip().split("|")
        if len(fields) != 3:
            continue
        name, cpus, oversubscribe = fields
        if (partition and name.rstrip("*") != partition) or (not partition and not name.endswith("*")):
            continue
        try:
            _allocated, idle, _other, total = (int(n) for n in cpus.split("/"))
        except ValueError:
            return None
        factor = oversubscribe.partition(":")[2] if oversubscribe.upper().startswith(("FORCE", "YES")) else ""
        return (idle or total) * (int(factor) if factor.isdigit() else 1)
    return None


# ---- command runners: this machine or SSH ------------------------------------


class CommandRunner(abc.ABC):
    """Runs an argument list on the cluster's login node; moves files there."""

    @abc.abstractmethod
    def run(self, argv: Sequence[str], stdin: Optional[bytes] = None, timeout: float = 60) -> tuple[int, str, str]: ...

    @abc.abstractmethod
    def read_bytes(self, path: str) -> Optional[bytes]: ...

    @abc.abstractmethod
    def write_bytes(self, path: str, data: bytes) -> None: ...

    def close(self) -> None: ...

    def find(self, directory: str, names: Sequence[str]) -> list[str]:
        """Paths of the files directly in ``directory`` whose names match a glob of ``names``."""
        matches: list[str] = ["("]
        for name in names:
            matches += [*(["-o"] if len(matches) > 1 else []), "-name", name]
        code, out, _ = self.run(["find", directory, "-maxdepth", "1", "-type", "f", *matches, ")"])
        return sorted(line for line in out.splitlines() if line) if code == 0 else []


class LocalRunner(CommandRunner):
    """Slurm's commands on this machine."""

    def run(self, argv: Sequence[str], stdin: Optional[bytes] = None, timeout: float = 60) -> tuple[int, str, str]:
        try:
            done = subprocess.run(list(argv), input=stdin, capture_output=True, timeout=timeout)
        except FileNotFoundError as exc:
            raise TransportError(f"{argv[0]} is not installed on this machine (transport 'local' needs the Slurm client commands)") from exc
        except subprocess.TimeoutExpired as exc:
            raise TransportError(f"{argv[0]} did not answer within {timeout} s") from exc
        return done.returncode, done.stdout.decode(errors="replace"), done.stderr.decode(errors="replace")

    def read_bytes(self, path: str) -> Optional[bytes]:
        try:
            return Path(path).read_bytes()
        except FileNotFoundError:
            return None

    def write_bytes(self, path: str, data: bytes) -> None:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        # Owner-only: job scripts can carry the environment of a flow run (API URL and key).
        with os.fdopen(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as handle:
            handle.write(data)
        os.replace(partial, target)


class SSHRunner(CommandRunner):
    """Commands and files on a login node over one SSH connection (paramiko), opened on first use."""

    def __init__(self, host: str, port: int, user: str, private_key: str, known_hosts_policy: str, known_hosts_file: Optional[str], passphrase: Optional[str] = None):
        self.host, self.port, self.user = host, port, user
        self._key_text, self._passphrase = private_key, passphrase
        self.known_hosts_policy, self.known_hosts_file = known_hosts_policy, known_hosts_file
        self._client: Any = None
        self._sftp: Any = None
        self._lock = threading.Lock()

    def _where(self) -> str:
        return f"{self.user}@{self.host}:{self.port}"

    def _load_key(self) -> Any:
        import paramiko

        for key_class in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
            try:
                return key_class.from_private_key(io.StringIO(self._key_text), password=self._passphrase)
            except (paramiko.SSHException, ValueError):
                continue
        raise TransportError(f"private_key for {self._where()} is not an OpenSSH Ed25519, ECDSA or RSA private key (or the passphrase is wrong)")

    def _connect(self) -> Any:
        import paramiko

        with self._lock:
            if self._client is not None and self._client.get_transport() and self._client.get_transport().is_active():
                return self._client
            client = paramiko.SSHClient()
            known_hosts = os.path.expanduser(self.known_hosts_file or "~/.ssh/known_hosts")
            if os.path.exists(known_hosts):
                client.load_host_keys(known_hosts)
            policies = {
                "strict": paramiko.RejectPolicy(),
                "accept-new": paramiko.AutoAddPolicy(),
                "ignore": paramiko.WarningPolicy(),
            }
            client.set_missing_host_key_policy(policies[self.known_hosts_policy])
            try:
                client.connect(self.host, port=self.port, username=self.user, pkey=self._load_key(),
                               allow_agent=False, look_for_keys=False, timeout=20, banner_timeout=20, auth_timeout=20)
            except paramiko.BadHostKeyException as exc:
                raise TransportError(f"host key of {self._where()} does not match {known_hosts}: refusing to connect") from exc
            except paramiko.SSHException as exc:
                hint = f" (not in {known_hosts}; known_hosts_policy is 'strict')" if "not found in known_hosts" in str(exc) else ""
                raise TransportError(f"SSH to {self._where()} failed: {exc}{hint}") from exc
            except OSError as exc:
                raise TransportError(f"SSH to {self._where()} failed: {exc}") from exc
            if self.known_hosts_policy == "accept-new":
                os.makedirs(os.path.dirname(known_hosts), exist_ok=True)
                client.save_host_keys(known_hosts)
            self._client, self._sftp = client, None
            return client

    def run(self, argv: Sequence[str], stdin: Optional[bytes] = None, timeout: float = 60) -> tuple[int, str, str]:
        import paramiko

        client = self._connect()
        try:
            channel_in, channel_out, channel_err = client.exec_command(shlex.join(argv), timeout=timeout)
            if stdin is not None:
                channel_in.write(stdin)
            channel_in.channel.shutdown_write()
            out, err = channel_out.read(), channel_err.read()
            return channel_out.channel.recv_exit_status(), out.decode(errors="replace"), err.decode(errors="replace")
        except (paramiko.SSHException, OSError) as exc:
            self.close()
            raise TransportError(f"SSH command {argv[0]} on {self._where()} failed: {exc}") from exc

    def _sftp_client(self) -> Any:
        client = self._connect()
        with self._lock:
            if self._sftp is None:
                self._sftp = client.open_sftp()
            return self._sftp

    def read_bytes(self, path: str) -> Optional[bytes]:
        sftp = self._sftp_client()
        try:
            with sftp.open(path, "rb") as handle:
                return handle.read()
        except FileNotFoundError:
            return None

    def write_bytes(self, path: str, data: bytes) -> None:
        code, _, err = self.run(["mkdir", "-p", "--", os.path.dirname(path)])
        if code:
            raise SlurmCommandError(f"mkdir {os.path.dirname(path)} on {self._where()}", code, err)
        sftp = self._sftp_client()
        with sftp.open(path + ".partial", "wb") as handle:
            handle.chmod(0o600)  # job scripts can carry a flow run's API key
            handle.write(data)
        sftp.posix_rename(path + ".partial", path)

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
            self._client = self._sftp = None


class CommandBackend(SlurmBackend):
    """sbatch/squeue/scancel through a runner (this machine or SSH)."""

    def __init__(self, runner: CommandRunner):
        self.runner = runner
        self.scheduler_calls = 0

    def submit(self, script: str, job: SlurmJob, output_prefix: str) -> str:
        # The output directory must exist before Slurm opens the job's output files.
        self.runner.write_bytes(output_prefix + ".sh", script.encode())
        self.scheduler_calls += 1
        code, out, err = self.runner.run(["sbatch", "--parsable", output_prefix + ".sh"])
        if code:
            raise SlurmCommandError(f"sbatch of job {job.name!r}", code, err)
        return out.strip().split(";")[0]

    def query(self, job_ids: Sequence[str]) -> dict[str, JobStatus]:
        if not job_ids:
            return {}
        self.scheduler_calls += 1
        code, out, err = self.runner.run(["squeue", "--noheader", "--array", "--states=all", f"--jobs={','.join(job_ids)}", f"--format={SQUEUE_FORMAT}"])
        if code:
            if "Invalid job id" in err:  # every id has been purged: none is known any more
                return {}
            raise SlurmCommandError("squeue", code, err)
        return parse_squeue(out)

    def cancel(self, job_ids: Sequence[str]) -> dict[str, str]:
        if not job_ids:
            return {}
        self.scheduler_calls += 1
        code, _, err = self.runner.run(["scancel", *job_ids])
        not_cancelled = parse_scancel_errors(err)
        if code and not not_cancelled:
            raise SlurmCommandError(f"scancel {' '.join(job_ids)}", code, err)
        return not_cancelled

    def free_slots(self, partition: Optional[str] = None) -> Optional[int]:
        self.scheduler_calls += 1
        code, out, _ = self.runner.run(["sinfo", "--noheader", "--format=%P|%C|%h", *([f"--partition={partition}"] if partition else [])])
        return free_slots_from_sinfo(out, partition) if code == 0 else None

    def read_bytes(self, path: str) -> Optional[bytes]:
        return self.runner.read_bytes(path)

    def find_files(self, directory: str, names: Sequence[str]) -> list[str]:
        return self.runner.find(directory, names)

    def write_bytes(self, path: str, data: bytes) -> None:
        self.runner.write_bytes(path, data)

    def close(self) -> None:
        self.runner.close()


class RestBackend(SlurmBackend):
    """slurmrestd (OpenAPI v0.0.38). Job files are read where the working directory is mounted
    on this machine: slurmrestd itself has no file API."""

    def __init__(self, url: str, user: str, token: str, api_version: str = "v0.0.38", timeout: float = 30):
        import httpx

        self.url, self.user = url.rstrip("/"), user
        self.api = f"/slurm/{api_version}"
        self._client = httpx.Client(base_url=self.url, timeout=timeout,
                                    headers={"X-SLURM-USER-NAME": user, "X-SLURM-USER-TOKEN": token})
        self._files = LocalRunner()
        self.scheduler_calls = 0

    def _request(self, method: str, path: str, what: str, **kwargs: Any) -> dict:
        import httpx

        self.scheduler_calls += 1
        try:
            response = self._client.request(method, self.api + path, **kwargs)
        except httpx.HTTPError as exc:
            raise TransportError(f"slurmrestd at {self.url} did not answer {what}: {exc}") from exc
        try:
            payload = response.json()
        except ValueError:
            payload = {}
        errors = [e for e in payload.get("errors", []) if e.get("error_number") or e.get("error")]
        if response.status_code >= 400 or errors:
            detail = "; ".join(str(e.get("error") or e.get("description") or e) for e in errors) or response.text[:300]
            if response.status_code in (401, 403) or "Zero Bytes were transmitted" in detail:
                # slurmctld drops a request whose JWT it cannot verify; slurmrestd reports only that.
                detail += (f" (slurmrestd could not authenticate user {self.user!r} with rest_token: is it valid and unexpired?"
                           f" Make a new one with `scontrol token username={self.user} lifespan=SECONDS`)")
            raise SlurmCommandError(f"slurmrestd {what}", response.status_code, detail)
        return payload

    def submit(self, script: str, job: SlurmJob, output_prefix: str) -> str:
        self._files.write_bytes(output_prefix + ".sh", script.encode())
        payload = self._request("POST", "/job/submit", f"submit of job {job.name!r}",
                                json={"script": script, "job": rest_job_properties(job, output_prefix)})
        return str(payload["job_id"])

    def query(self, job_ids: Sequence[str]) -> dict[str, JobStatus]:
        if not job_ids:
            return {}
        wanted = {str(i) for i in job_ids}
        statuses = parse_rest_jobs(self._request("GET", "/jobs", "job list"))
        return {key: status for key, status in statuses.items() if key.split("_")[0] in wanted}

    def cancel(self, job_ids: Sequence[str]) -> dict[str, str]:
        not_cancelled = {}
        for job_id in job_ids:
            try:
                self._request("DELETE", f"/job/{job_id}", f"cancel of job {job_id}")
            except SlurmCommandError as exc:
                text = str(exc).lower()
                if "invalid job id" in text:
                    not_cancelled[str(job_id)] = "unknown"
                elif "already complet" in text:
                    not_cancelled[str(job_id)] = "finished"
                else:
                    raise
        return not_cancelled

    def free_slots(self, partition: Optional[str] = None) -> Optional[int]:
        try:
            nodes = self._request("GET", "/nodes", "node list").get("nodes", [])
        except SlurmCommandError:
            return None
        idle = sum(int(node.get("idle_cpus") or 0) for node in nodes if not partition or partition in (node.get("partitions") or []))
        return idle or sum(int(node.get("cpus") or 0) for node in nodes) or None

    def read_bytes(self, path: str) -> Optional[bytes]:
        return self._files.read_bytes(path)

    def find_files(self, directory: str, names: Sequence[str]) -> list[str]:
        return self._files.find(directory, names)

    def write_bytes(self, path: str, data: bytes) -> None:
        self._files.write_bytes(path, data)

    def close(self) -> None:
        self._client.close()


# sbatch option -> slurmrestd v0.0.38 job property, where the names differ. slurmrestd 22.05
# hands each property to sbatch's own option parser (slurm_process_option_data in
# src/plugins/openapi/v0.0.38/jobs.c), so the values are sbatch's, whatever its published
# schema says: "nodes" is sbatch's -N string (the schema's [min, max] array is silently
# ignored) and "requeue" turns requeueing ON whatever its value ("no_requeue" turns it off).
# Same-named options (partition, account, qos, array, dependency, comment, gpus) map to themselves.
_REST_FIELDS = {
    "job-name": "name", "output": "standard_output", "error": "standard_error", "mem": "memory_per_node",
    "time": "time_limit", "ntasks": "tasks", "cpus-per-task": "cpus_per_task", "chdir": "current_working_directory",
}


def rest_job_properties(job: SlurmJob, output_prefix: str) -> dict[str, Any]:
    """The job properties slurmrestd (v0.0.38) takes in place of the script's ``#SBATCH`` lines,
    which it ignores: the very options ``sbatch`` would read, in the API's names and units."""
    properties: dict[str, Any] = {
        "environment": {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **job.environment},
        "current_working_directory": job.working_dir or os.path.dirname(output_prefix),
    }
    for option in sbatch_options(job, output_prefix):
        flag, _, value = option[2:].partition("=")
        if flag in ("requeue", "no-requeue"):
            properties[flag.replace("-", "_")] = True
            continue
        converted: Any = value
        if flag == "comment":
            converted = job.comment  # unquoted: the quotes are for the #SBATCH line's parser
        elif flag == "time":
            converted = _minutes(value)
        elif flag in ("ntasks", "cpus-per-task"):
            converted = int(value)
        elif flag == "mem":
            converted = _megabytes(value)
        properties[_REST_FIELDS.get(flag, flag.replace("-", "_"))] = converted
    return properties


def _minutes(time_limit: str) -> int:
    """Slurm time string → whole minutes, rounded up (the REST API takes minutes).

    ``M``, ``M:S``, ``H:M:S``, ``D-H``, ``D-H:M``, ``D-H:M:S`` as sbatch reads them;
    ``UNLIMITED``/``INFINITE`` is Slurm's INFINITE (0xffffffff)."""
    if time_limit in ("UNLIMITED", "INFINITE"):
        return 0xFFFFFFFF
    days, _, clock = time_limit.rpartition("-")
    parts = [int(p) for p in clock.split(":")]
    if days:  # after a day count the clock is H, H:M or H:M:S
        parts += [0] * (3 - len(parts))
        seconds = parts[0] * 3600 + parts[1] * 60 + parts[2] + int(days) * 86400
    elif len(parts) == 1:
        seconds = parts[0] * 60
    elif len(parts) == 2:
        seconds = parts[0] * 60 + parts[1]
    else:
        seconds = parts[0] * 3600 + parts[1] * 60 + parts[2]
    return max(1, -(-seconds // 60))


def _megabytes(memory: str) -> int:
    scale = {"K": 1 / 1024, "M": 1, "G": 1024, "T": 1024 * 1024}
    unit = memory[-1] if memory[-1] in scale else "M"
    return max(1, int(int(memory.rstrip("KMGT")) * scale[unit]))


class SubprocessBackend(SlurmBackend):
    """No Slurm: each job's script runs with bash on this machine (array elements one after
    another's start, all at once). The same scripts, files and results as on a cluster, for laptops."""

    _ids = itertools.count(1)

    def __init__(self) -> None:
        self._files = LocalRunner()
        self._processes: dict[str, tuple[subprocess.Popen, Any]] = {}
        self._states: dict[str, str] = {}
        self.scheduler_calls = 0

    def submit(self, script: str, job: SlurmJob, output_prefix: str) -> str:
        self._files.write_bytes(output_prefix + ".sh", script.encode())
        job_id = f"local{os.getpid()}x{next(self._ids)}"
        indices = job.array_indices() or [None]
        for index in indices:
            key = job_id if index is None else f"{job_id}_{index}"
            env = {**os.environ, "SLURM_JOB_ID": key, "SLURM_JOB_NAME": job.name}
            if index is not None:
                env.update(SLURM_ARRAY_JOB_ID=job_id, SLURM_ARRAY_TASK_ID=str(index))
            with open(f"{output_prefix}.{key}.out", "wb") as out, open(f"{output_prefix}.{key}.err", "wb") as err:
                process = subprocess.Popen(["bash", output_prefix + ".sh"], stdout=out, stderr=err, env=env,
                                           cwd=job.working_dir or os.path.dirname(output_prefix), start_new_session=True)
            self._processes[key] = (process, job)
        return job_id

    def query(self, job_ids: Sequence[str]) -> dict[str, JobStatus]:
        wanted = set(job_ids)
        statuses = {}
        for key, (process, job) in self._processes.items():
            if key.split("_")[0] not in wanted:
                continue
            code = process.poll()
            state = self._states.get(key) or ("RUNNING" if code is None else "COMPLETED" if code == 0 else "FAILED")
            statuses[key] = JobStatus(job_id=key, state=state, exit_code=None if code is None or code < 0 else code,
                                      signal=-code if code is not None and code < 0 else None, name=job.name, comment=job.comment or "")
        return statuses

    def cancel(self, job_ids: Sequence[str]) -> dict[str, str]:
        wanted, found = set(job_ids), set()
        for key, (process, _) in self._processes.items():
            if key in wanted or key.split("_")[0] in wanted:
                found.add(key.split("_")[0])
                if process.poll() is None:
                    self._states[key] = "CANCELLED"
                    os.killpg(process.pid, signal.SIGTERM)
        return {job_id: "unknown" for job_id in wanted - found}

    def free_slots(self, partition: Optional[str] = None) -> Optional[int]:
        return os.cpu_count()

    def read_bytes(self, path: str) -> Optional[bytes]:
        return self._files.read_bytes(path)

    def find_files(self, directory: str, names: Sequence[str]) -> list[str]:
        return self._files.find(directory, names)

    def write_bytes(self, path: str, data: bytes) -> None:
        self._files.write_bytes(path, data)

