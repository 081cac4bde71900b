"""The Slurm service: run jobs, Prefect tasks and whole flow runs on a Slurm cluster.

``SlurmJob`` and the job control (``SlurmController``) need no Prefect; ``SlurmCluster`` is
the block, ``run_job``/``run_shell_job``/``run_task_as_job``/``map_task_as_array`` the tasks,
and ``SlurmWorker`` the ``lume-slurm`` worker type for work pools.

Public names are imported on first use: the job-side runner (``python -m
lume_prefect.slurm.runner``) imports this package, and must not pay for Prefect.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "SlurmCluster": "lume_prefect.slurm.blocks",
    "JobResult": "lume_prefect.slurm.control",
    "SlurmController": "lume_prefect.slurm.control",
    "SubmittedJob": "lume_prefect.slurm.control",
    "ItemsFailed": "lume_prefect.slurm.errors",
    "JobFailed": "lume_prefect.slurm.errors",
    "JobLost": "lume_prefect.slurm.errors",
    "RemoteTaskError": "lume_prefect.slurm.errors",
    "SlurmCommandError": "lume_prefect.slurm.errors",
    "SlurmError": "lume_prefect.slurm.errors",
    "TransportError": "lume_prefect.slurm.errors",
    "SlurmJob": "lume_prefect.slurm.job",
    "render_script": "lume_prefect.slurm.job",
    "JobStatus": "lume_prefect.slurm.states",
    "map_task_as_array": "lume_prefect.slurm.tasks",
    "resolve_cluster": "lume_prefect.slurm.tasks",
    "run_job": "lume_prefect.slurm.tasks",
    "run_shell_job": "lume_prefect.slurm.tasks",
    "run_task_as_job": "lume_prefect.slurm.tasks",
    "SlurmWorker": "lume_prefect.slurm.worker",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'lume_prefect.slurm' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
