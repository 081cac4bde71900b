"""lume-prefect: services for scientific model workflows as Prefect 3 blocks and tasks.

Public names are imported on first use so that ``import lume_prefect`` stays fast::

    from lume_prefect import run_model, LumeServices, SQLResults
"""

from __future__ import annotations

from lume_prefect.core.lazy import lazy_names

__version__ = "0.1.0"

_LAZY = {
    # files
    "LocalFiles": "lume_prefect.files",
    "MountedFiles": "lume_prefect.files",
    "S3Files": "lume_prefect.files",
    "FileRef": "lume_prefect.files",
    "save_file": "lume_prefect.files",
    "load_file": "lume_prefect.files",
    "read_ref": "lume_prefect.files",
    # registry
    "ModelRegistry": "lume_prefect.registry",
    "MLflowRegistry": "lume_prefect.registry",
    "SQLRegistry": "lume_prefect.registry",
    "get_live_version": "lume_prefect.registry",
    "register_version": "lume_prefect.registry",
    "promote_version": "lume_prefect.registry",
    # results
    "Result": "lume_prefect.results",
    "SQLResults": "lume_prefect.results",
    "MongoResults": "lume_prefect.results",
    "SQLResultsStore": "lume_prefect.results",
    "MongoResultsStore": "lume_prefect.results",
    "save_result": "lume_prefect.results",
    "load_result": "lume_prefect.results",
    "query_results": "lume_prefect.results",
    "plot_results": "lume_prefect.results",
    # slurm
    "SlurmCluster": "lume_prefect.slurm",
    "SlurmJob": "lume_prefect.slurm",
    "run_job": "lume_prefect.slurm",
    "run_shell_job": "lume_prefect.slurm",
    "run_task_as_job": "lume_prefect.slurm",
    "map_task_as_array": "lume_prefect.slurm",
    # models and services
    "LumeServices": "lume_prefect.services",
    "ModelSpec": "lume_prefect.models",
    "run_model": "lume_prefect.models",
    "deploy_model": "lume_prefect.models",
    "register_model_version": "lume_prefect.models",
    "reproduce": "lume_prefect.models",
    "Pipeline": "lume_prefect.models",
    "register_pipeline": "lume_prefect.models",
    "model_logger": "lume_prefect.models",
    # core
    "LumeError": "lume_prefect.core.errors",
    "RemoteError": "lume_prefect.core.errors",
    "MissingDatabaseDirectory": "lume_prefect.core.errors",
    "PortableCall": "lume_prefect.core.errors",
    "resolve": "lume_prefect.core.resolve",
    # scans
    "run_scan": "lume_prefect.scans",
    "ScanResult": "lume_prefect.scans",
    "compare_models": "lume_prefect.scans",
    "ModelComparison": "lume_prefect.scans",
}

__getattr__, __dir__ = lazy_names(__name__, _LAZY, globals())
__all__ = sorted(_LAZY)
