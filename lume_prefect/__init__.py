"""lume-prefect: services for scientific model workflows as Prefect 3 blocks and tasks.

Public names are imported on first use so that ``import lume_prefect`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "LocalFiles": "lume_prefect.files",
    "MountedFiles": "lume_prefect.files",
    "S3Files": "lume_prefect.files",
    "FileRef": "lume_prefect.files",
    "save_file": "lume_prefect.files",
    "load_file": "lume_prefect.files",
    "ModelRegistry": "lume_prefect.registry",
    "SQLRegistry": "lume_prefect.registry",
    "get_live_version": "lume_prefect.registry",
    "register_version": "lume_prefect.registry",
    "Result": "lume_prefect.results",
    "SQLResults": "lume_prefect.results",
    "MongoResults": "lume_prefect.results",
    "SQLResultsStore": "lume_prefect.results",
    "MongoResultsStore": "lume_prefect.results",
    "save_result": "lume_prefect.results",
    "load_result": "lume_prefect.results",
    "query_results": "lume_prefect.results",
    "plot_results": "lume_prefect.results",
    "run_scan": "lume_prefect.scans",
    "ScanResult": "lume_prefect.scans",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'lume_prefect' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
