"""The Slurm service: run jobs, Prefect tasks and whole flow runs on a Slurm cluster.

``SlurmJob`` and the job control (``SlurmController``) need no Prefect; ``SlurmCluster`` is
the block, ``run_job``/``run_shell_job``/``run_task_as_job``/``map_task_as_array`` the tasks,
and ``SlurmWorker`` the ``slurm`` worker type for work pools.
"""

from lume_prefect.slurm.blocks import SlurmCluster
from lume_prefect.slurm.control import JobResult, SlurmController, SubmittedJob
from lume_prefect.slurm.errors import JobFailed, JobLost, RemoteTaskError, SlurmCommandError, SlurmError, TransportError
from lume_prefect.slurm.job import SlurmJob, render_script
from lume_prefect.slurm.states import JobStatus
from lume_prefect.slurm.tasks import map_task_as_array, resolve_cluster, run_job, run_shell_job, run_task_as_job

__all__ = [
    "JobFailed", "JobLost", "JobResult", "JobStatus", "RemoteTaskError", "SlurmCluster", "SlurmCommandError",
    "SlurmController", "SlurmError", "SlurmJob", "SubmittedJob", "TransportError", "map_task_as_array",
    "render_script", "resolve_cluster", "run_job", "run_shell_job", "run_task_as_job",
]
