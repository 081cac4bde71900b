"""Scans: thousands of points through one model version, in batches, cached and stored in bulk,
in this process, a process pool, Dask, a Slurm job array or a deployment's workers."""

from lume_prefect.core.lazy import lazy_names
from lume_prefect.scans.errors import (
    BadPoint,
    EmptyScan,
    FailedPoint,
    InvalidPoints,
    NothingToCompare,
    ScanError,
    ScanFailed,
    ScanStoreError,
    UnitMismatch,
)
from lume_prefect.scans.result import ScanResult

# imported on first use: a worker process evaluating batches (scans.batch) does not load Prefect
_LAZY = {
    "run_scan": "lume_prefect.scans.run",
    "run_scan_task": "lume_prefect.scans.run",
    "scan_flow": "lume_prefect.scans.run",
    "compare_models": "lume_prefect.scans.compare",
    "ModelComparison": "lume_prefect.scans.compare",
}
__getattr__, __dir__ = lazy_names(__name__, _LAZY, globals())

__all__ = [
    "BadPoint",
    "EmptyScan",
    "FailedPoint",
    "InvalidPoints",
    "ModelComparison",
    "NothingToCompare",
    "ScanError",
    "ScanFailed",
    "ScanResult",
    "ScanStoreError",
    "UnitMismatch",
    "compare_models",
    "run_scan",
    "run_scan_task",
    "scan_flow",
]
