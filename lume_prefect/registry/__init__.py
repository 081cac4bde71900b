"""The model registry: models, versions, aliases (``live``) and their history, in SQL.

``SQLRegistry`` is the registry itself (no Prefect needed); ``ModelRegistry`` is the
Prefect block that configures one; ``get_live_version`` and ``register_version`` are tasks.
The block and tasks are imported on first use so the domain code loads without Prefect.
"""

from __future__ import annotations

import importlib
from typing import Any

from lume_prefect.registry.errors import (
    AliasNotFound,
    InvalidValue,
    InvalidVersion,
    ModelExists,
    ModelNotFound,
    NoLiveVersion,
    NothingToRevert,
    NoVersions,
    RegistryError,
    SchemaOutdated,
    UnknownFilter,
    UnknownSchema,
    VersionExists,
    VersionNotFound,
)
from lume_prefect.registry.records import AliasChange, ModelVersion, RegisteredModel
from lume_prefect.registry.store import SQLRegistry

_LAZY = {
    "ModelRegistry": "lume_prefect.registry.blocks",
    "get_live_version": "lume_prefect.registry.tasks",
    "register_version": "lume_prefect.registry.tasks",
    "promote_version": "lume_prefect.registry.tasks",
    "resolve_registry": "lume_prefect.registry.tasks",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'lume_prefect.registry' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = [
    "AliasChange",
    "AliasNotFound",
    "InvalidValue",
    "InvalidVersion",
    "ModelExists",
    "ModelNotFound",
    "ModelRegistry",
    "ModelVersion",
    "NoLiveVersion",
    "NoVersions",
    "NothingToRevert",
    "RegisteredModel",
    "RegistryError",
    "SQLRegistry",
    "SchemaOutdated",
    "UnknownFilter",
    "UnknownSchema",
    "VersionExists",
    "VersionNotFound",
    "get_live_version",
    "promote_version",
    "register_version",
    "resolve_registry",
]
