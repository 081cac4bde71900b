"""The model registry: models, versions, aliases (``live``) and their history, in SQL or MLflow.

``SQLRegistry`` and ``MLflowStore`` are the registry itself (no Prefect needed); ``ModelRegistry``
and ``MLflowRegistry`` are the Prefect blocks that configure them; ``get_live_version`` and ``register_version`` are tasks.
The block and tasks are imported on first use so the domain code loads without Prefect.
"""

from __future__ import annotations

from lume_prefect.core.lazy import lazy_names
from lume_prefect.registry.errors import (
    AliasNotFound,
    CopyConflict,
    InvalidValue,
    InvalidVersion,
    ModelExists,
    ModelNotFound,
    NoLiveVersion,
    NothingToRevert,
    NoVersions,
    RegistryBusy,
    RegistryError,
    RegistryUnreachable,
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
    "MLflowRegistry": "lume_prefect.registry.blocks",
    "MLflowStore": "lume_prefect.registry.mlflow_store",
    "get_live_version": "lume_prefect.registry.tasks",
    "register_version": "lume_prefect.registry.tasks",
    "promote_version": "lume_prefect.registry.tasks",
    "resolve_registry": "lume_prefect.registry.tasks",
}
__getattr__, __dir__ = lazy_names(__name__, _LAZY, globals())


__all__ = [
    "AliasChange",
    "AliasNotFound",
    "CopyConflict",
    "InvalidValue",
    "InvalidVersion",
    "MLflowRegistry",
    "MLflowStore",
    "ModelExists",
    "ModelNotFound",
    "ModelRegistry",
    "ModelVersion",
    "NoLiveVersion",
    "NoVersions",
    "NothingToRevert",
    "RegisteredModel",
    "RegistryBusy",
    "RegistryError",
    "RegistryUnreachable",
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
