"""Prefect tasks of the model registry: ``get_live_version``, ``register_version``, ``promote_version``.

They take a ``ModelRegistry`` or ``MLflowRegistry`` block, the name of a saved one (so a flow's parameters stay
plain strings), or None: the current services' registry (``$LUME_SERVICES``, else ``local``). None is cached: the live version
changes between runs, and registering is a side effect. Changes are recorded as made by
the OS user via the flow run.
"""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from lume_prefect.core.resolve import resolve
from lume_prefect.registry.blocks import MLflowRegistry, ModelRegistry

AnyRegistry = ModelRegistry | MLflowRegistry
from lume_prefect.registry.records import AliasChange, ModelVersion
from lume_prefect.registry.schema import NAME_LENGTH
from lume_prefect.registry.validation import who


def resolve_registry(registry: AnyRegistry | str | None = None) -> AnyRegistry:
    """A ModelRegistry or MLflowRegistry block, the saved one named ``registry``, or (None) the current services'
    registry (see ``lume_prefect.core.resolve``)."""
    return resolve(registry, "registry")


def _changed_by() -> str:
    from prefect.runtime import flow_run

    user = who(None)
    run = flow_run.name
    return (f"{user} via flow run {run}" if run else user)[:NAME_LENGTH]


@task(name="get-live-version", cache_policy=NO_CACHE, task_run_name="live version of {name}")
def get_live_version(registry: AnyRegistry | str | None, name: str) -> ModelVersion:
    """The live version of model ``name`` (raises NoLiveVersion if none was promoted)."""
    return resolve_registry(registry).live_version(name, _sync=True)


@task(name="register-version", cache_policy=NO_CACHE, task_run_name="register {name} {version}")
def register_version(registry: AnyRegistry | str | None, name: str, version: str, **details: Any) -> ModelVersion:
    """Record a new version of model ``name``; ``details`` are those of ``SQLRegistry.register_version``
    (source, entrypoint, sha256, image, parameters_schema). Raises VersionExists if it is registered already."""
    return resolve_registry(registry).register_version(name, version, by=_changed_by(), **details, _sync=True)


@task(name="promote-version", cache_policy=NO_CACHE, task_run_name="promote {name} {version}")
def promote_version(registry: AnyRegistry | str | None, name: str, version: str) -> AliasChange:
    """Make ``version`` the live version of model ``name``; recorded in the history."""
    return resolve_registry(registry).promote(name, version, by=_changed_by(), _sync=True)
