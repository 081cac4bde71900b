"""The SlurmCluster block: how to reach a Slurm cluster, and its defaults for jobs."""

from __future__ import annotations

import sys
from typing import Literal, Optional

from prefect.blocks.core import Block
from pydantic import Field, PrivateAttr, SecretStr, field_validator, model_validator

from lume_prefect.core.blocks import docs_url, logo_url, sync_or_async
from lume_prefect.slurm.control import JobResult, ProgressCallback, SlurmController, SubmittedJob
from lume_prefect.slurm.job import SlurmJob, check_path
from lume_prefect.slurm.states import JobStatus
from lume_prefect.slurm.transports import CommandBackend, LocalRunner, RestBackend, SlurmBackend, SSHRunner, SubprocessBackend

LOGO_URL = logo_url("shell")


class SlurmCluster(Block):
    """A Slurm cluster reached by its commands on this machine, over SSH, or through slurmrestd.

    Jobs write their output, exit code and (for tasks run as jobs) results under
    ``working_dir``, which must be on the cluster's shared filesystem. ``transport="subprocess"``
    runs the same job scripts with bash on this machine without Slurm, for laptops.

    Examples:
        Submit a command on a login node over SSH and wait for it:
        ```python
        from lume_prefect.slurm import SlurmCluster, SlurmJob

        cluster = SlurmCluster(transport="ssh", host="login.hpc.example.org", user="lume",
                               private_key=open("/home/lume/.ssh/id_ed25519").read(),
                               working_dir="/scratch/lume", partition="debug",
                               setup=["module load python/3.11"])
        cluster.save("hpc")
        job = cluster.submit(SlurmJob(name="hello", command=["hostname"]))
        [result] = cluster.wait(job)
        print(result.status.state, result.stdout)
        ```

        Load a saved cluster and run a shell command on it as a job, inside a flow:
        ```python
        from lume_prefect.slurm import SlurmCluster, run_shell_job

        cluster = SlurmCluster.load("BLOCK_NAME")
        lines = run_shell_job(cluster, "python simulate.py", job={"time_limit": "00:30:00"})
        ```
    """

    _block_type_name = "LUME Slurm Cluster"
    _block_type_slug = "lume-slurm-cluster"
    _description = "A Slurm cluster (sbatch on this machine, over SSH, or slurmrestd) with job defaults and a shared working directory."
    _documentation_url = docs_url(_block_type_slug)
    _logo_url = LOGO_URL

    transport: Literal["local", "ssh", "rest", "subprocess"] = Field(
        default="local",
        description="How Slurm is reached: 'local' runs sbatch/squeue/scancel here, 'ssh' on a login node, 'rest' calls slurmrestd, 'subprocess' runs job scripts here without Slurm.",
    )
    working_dir: str = Field(
        description="Absolute directory on the cluster's shared filesystem for job scripts, output, exit codes and task results.",
        examples=["/scratch/lume"],
    )
    partition: Optional[str] = Field(default=None, description="Default partition for jobs that name none.")
    account: Optional[str] = Field(default=None, description="Default account for jobs that name none.")
    qos: Optional[str] = Field(default=None, description="Default quality of service for jobs that name none.")
    setup: list[str] = Field(
        default_factory=list,
        description="Shell lines run at the start of every job, before its command (e.g. 'module load python/3.11').",
    )
    python: Optional[str] = Field(
        default=None,
        description="Python interpreter that runs Prefect tasks and flow runs in jobs; it needs lume-prefect installed. "
                    "Empty: for 'local' and 'subprocess', the interpreter of the process that submits the jobs (its venv, "
                    "so the same lume-prefect; on a cluster its path must be on the nodes' shared filesystem); for 'ssh' "
                    "and 'rest', 'python3' from the job's PATH after the setup lines: set it to the cluster's venv, "
                    "e.g. /opt/lume/venv/bin/python.",
        examples=["/opt/lume/venv/bin/python"],
    )
    host: Optional[str] = Field(default=None, description="SSH: the login node's host name or address.")
    port: int = Field(default=22, description="SSH: port of the login node's sshd.")
    user: Optional[str] = Field(default=None, description="SSH and REST: the cluster user name.")
    private_key: Optional[SecretStr] = Field(default=None, description="SSH: the private key (OpenSSH format), kept secret.")
    private_key_passphrase: Optional[SecretStr] = Field(default=None, description="SSH: the private key's passphrase, if it has one.")
    known_hosts_policy: Literal["strict", "accept-new", "ignore"] = Field(
        default="strict",
        description="SSH: 'strict' connects only to hosts in known_hosts_file, 'accept-new' records an unknown host's key on first use, 'ignore' skips the check (insecure).",
    )
    known_hosts_file: Optional[str] = Field(default=None, description="SSH: known_hosts file; default ~/.ssh/known_hosts.")
    rest_url: Optional[str] = Field(default=None, description="REST: slurmrestd's URL.", examples=["http://slurm-rest:6820"])
    rest_token: Optional[SecretStr] = Field(default=None, description="REST: a JWT from 'scontrol token', kept secret.")
    rest_api_version: str = Field(default="v0.0.38", description="REST: slurmrestd's OpenAPI version.")
    min_poll_interval: float = Field(default=0.1, gt=0, description="Seconds between status polls right after a change.")
    max_poll_interval: float = Field(default=5.0, gt=0, description="Longest wait between status polls while nothing changes (polls back off up to it).")

    _controller: Optional[SlurmController] = PrivateAttr(None)

    @field_validator("working_dir")
    @classmethod
    def _working_dir(cls, value: str) -> str:
        return check_path(value, "working_dir")

    @field_validator("setup")
    @classmethod
    def _setup(cls, value: list[str]) -> list[str]:
        for line in value:
            if "\n" in line or "\r" in line or line.lstrip().startswith("#SBATCH"):
                raise ValueError(f"setup line {line!r} must be a single shell line and not an #SBATCH directive")
        return value

    @field_validator("python")
    @classmethod
    def _python(cls, value: Optional[str]) -> Optional[str]:
        if value is None or not value.strip():
            return None  # the UI saves an emptied field as ""
        if any(c in value for c in "\n\r\0"):
            raise ValueError(f"python {value!r} must be a single line: an interpreter's path or name")
        return value.strip()

    @property
    def job_python(self) -> str:
        """The interpreter jobs run Python with: ``python`` if set; else, for the ``local`` and
        ``subprocess`` transports, the interpreter running this code (``sys.executable``: this
        venv, with this lume-prefect), and for ``ssh`` and ``rest`` ``python3`` from the job's PATH."""
        if self.python:
            return self.python
        if self.transport in ("local", "subprocess") and sys.executable:
            return sys.executable
        return "python3"

    @model_validator(mode="after")
    def _transport_settings(self) -> "SlurmCluster":
        needed = {"ssh": ("host", "user", "private_key"), "rest": ("rest_url", "user", "rest_token")}.get(self.transport, ())
        missing = [name for name in needed if not getattr(self, name)]
        if missing:
            raise ValueError(f"transport {self.transport!r} needs {', '.join(missing)}")
        SlurmJob(partition=self.partition, account=self.account, qos=self.qos, command=["true"])  # same rules as jobs
        if self.min_poll_interval > self.max_poll_interval:
            raise ValueError(f"min_poll_interval ({self.min_poll_interval}) must not exceed max_poll_interval ({self.max_poll_interval})")
        return self

    def backend(self) -> SlurmBackend:
        """A new connection to the cluster for this block's transport."""
        if self.transport == "local":
            return CommandBackend(LocalRunner())
        if self.transport == "ssh":
            passphrase = self.private_key_passphrase.get_secret_value() if self.private_key_passphrase else None
            return CommandBackend(SSHRunner(self.host or "", self.port, self.user or "", self.private_key.get_secret_value(),  # type: ignore[union-attr]
                                            self.known_hosts_policy, self.known_hosts_file, passphrase))
        if self.transport == "rest":
            return RestBackend(self.rest_url or "", self.user or "", self.rest_token.get_secret_value(), self.rest_api_version)  # type: ignore[union-attr]
        return SubprocessBackend()

    def controller(self) -> SlurmController:
        """This block's job controller (one per block instance, so polls are shared)."""
        if self._controller is None:
            self._controller = SlurmController(
                self.backend(), self.working_dir, self.setup,
                defaults={"partition": self.partition, "account": self.account, "qos": self.qos},
                min_interval=self.min_poll_interval, max_interval=self.max_poll_interval,
            )
        return self._controller

    @sync_or_async
    def submit(self, job: SlurmJob) -> SubmittedJob:
        """Submit a job (the block's partition/account/qos fill what the job leaves empty)."""
        return self.controller().submit(job)

    @sync_or_async
    def status(self, job: SubmittedJob) -> list[JobStatus]:
        """The current status of each element of a job."""
        return self.controller().status(job)

    @sync_or_async
    def wait(self, job: SubmittedJob, timeout: Optional[float] = None, progress: Optional[bool] = None,
             on_progress: Optional[ProgressCallback] = None) -> list[JobResult]:
        """Wait until the job (every array element) ends; its results with state, reason, exit code and output.

        A wait longer than a few seconds draws a progress bar on stderr when it is a terminal
        (``progress=True``/``False`` forces it on/off) and calls ``on_progress(done, total, counts)``
        on each change; see ``SlurmController.wait``."""
        return self.controller().wait(job, timeout=timeout, progress=progress, on_progress=on_progress)

    @sync_or_async
    def cancel(self, job: SubmittedJob) -> None:
        """Cancel a job (scancel, or DELETE through slurmrestd)."""
        self.controller().cancel(job)

    @sync_or_async
    def collect(self, job: SubmittedJob) -> list[JobResult]:
        """Final state, exit code, stdout and stderr of each element of a finished job."""
        return self.controller().collect(job)

    asubmit = submit.aio
    astatus = status.aio
    await_job = wait.aio  # ("await" is a keyword)
    acancel = cancel.aio
    acollect = collect.aio

