"""Scans: thousands of points through one model version, in batches, cached and stored in bulk,
in this process, a process pool, Dask, a Slurm job array or a deployment's workers."""

from lume_prefect.scans.errors import BadPoint, EmptyScan, FailedPoint, InvalidPoints, ScanError, ScanFailed, ScanStoreError
from lume_prefect.scans.result import ScanResult
from lume_prefect.scans.run import run_scan, run_scan_task, scan_flow

__all__ = [
    "BadPoint",
    "EmptyScan",
    "FailedPoint",
    "InvalidPoints",
    "ScanError",
    "ScanFailed",
    "ScanResult",
    "ScanStoreError",
    "run_scan",
    "run_scan_task",
    "scan_flow",
]
