"""Deploying a model version: register it in the registry and create its Prefect deployment.

The deployment is named after the version (``<model>/<version>``: the flow is named after
the model), carries the version, tags and the spec's parameter schema, runs on a work pool,
and optionally on a cron or interval schedule. Re-deploying a version from the same source
is a no-op for the registry (the deployment is updated); from a different source it is
refused with SourceConflict.
"""

from __future__ import annotations

import hashlib
import errno
import os
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Optional

from lume_prefect.files.blocks import MountedFiles
from lume_prefect.models.contract import ModelSpec
from lume_prefect.models.errors import SourceConflict
from lume_prefect.models.loading import load_model_flow, spec_of
from lume_prefect.core.resolve import resolve
from lume_prefect.services import SERVICES_ENV, LumeServices, services_name

IGNORED_DIRS = {".git", "__pycache__", ".venv", ".pytest_cache", "node_modules"}


def source_sha256(source: str) -> Optional[str]:
    """SHA-256 of a local source (a file, or every file of a directory by relative path); None for remote sources."""
    path = Path(source)
    if path.is_file():
        return hashlib.sha256(path.read_bytes()).hexdigest()
    if not path.is_dir():
        return None
    digest = hashlib.sha256()
    for root, dirs, files in os.walk(path):
        dirs[:] = sorted(d for d in dirs if d not in IGNORED_DIRS)
        for name in sorted(files):
            if name.endswith((".pyc", ".pyo")):
                continue
            file = Path(root, name)
            digest.update(file.relative_to(path).as_posix().encode() + b"\0")
            digest.update(hashlib.sha256(file.read_bytes()).digest())
    return digest.hexdigest()


@dataclass(frozen=True)
class Deployed:
    """What ``deploy_model`` did."""

    model: str
    version: str
    deployment_name: str
    deployment_id: str
    registered: bool  # False when the version was already registered from the same source


def ensure_work_pool(name: str, pool_type: str = "process", *, create: bool = True) -> Any:
    """The work pool ``name``, created (of ``pool_type``) if it does not exist and ``create``;
    else a LookupError naming it and the pools there are (a mistyped name is not a new pool)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            return client.read_work_pool(name)
        except ObjectNotFound:
            if not create:
                known = ", ".join(sorted(pool.name for pool in client.read_work_pools())) or "none"
                raise LookupError(f"work pool {name!r} does not exist (pools: {known}); create it with "
                                  f"`prefect work-pool create {name} --type process`, or leave it out for the services' pool") from None
            return client.create_work_pool(WorkPoolCreate(name=name, type=pool_type))


def check_source(source: str) -> None:
    """A local ``source`` (not a URL) must be an existing directory."""
    if "://" not in source and not source.startswith("git@") and not os.path.isdir(source):
        what = "is not a directory" if os.path.exists(source) else "does not exist"
        raise FileNotFoundError(errno.ENOENT, f"source directory {source!r} {what}", source)


def check_schedule(cron: Optional[str], interval: Optional[float | timedelta]) -> None:
    """``cron`` and ``interval`` as Prefect's schedules would take them, in one line each."""
    from prefect.client.schemas.schedules import CronSchedule

    if cron is not None:
        try:
            CronSchedule(cron=cron)
        except ValueError:
            raise ValueError(f"cron {cron!r} is not a cron expression: five fields, minute hour day month weekday, e.g. '0 * * * *'") from None
    if interval is not None:
        seconds = interval.total_seconds() if isinstance(interval, timedelta) else interval
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 < seconds < float("inf"):
            raise ValueError(f"interval must be a positive number of seconds (or a timedelta), got {interval!r}")


def register_spec(
    services: LumeServices,
    spec: ModelSpec,
    *,
    source: str,
    entrypoint: str,
    image: Optional[str] = None,
    schema_extra: Optional[dict[str, Any]] = None,
) -> bool:
    """Register the model (if new) and this version; True if registered now, False if already there from the same source."""
    from lume_prefect.registry.errors import VersionExists

    registry = services.registry
    registry.register_model(spec.name, **spec.registry_metadata(), exist_ok=True, _sync=True)
    sha256 = source_sha256(source)
    try:
        registry.register_version(
            spec.name, spec.version, source=source, entrypoint=entrypoint, sha256=sha256, image=image,
            parameters_schema=spec.parameters_schema() | (schema_extra or {}), _sync=True,
        )
        return True
    except VersionExists:
        existing = registry.get_version(spec.name, spec.version, _sync=True)
        if existing.sha256 == sha256 and existing.entrypoint == entrypoint and existing.source != source and sha256:
            # the same code from a moved checkout: follow it, the version's code is unchanged
            registry.relocate_source(spec.name, spec.version, source=source, sha256=sha256, _sync=True)
            return False
        if existing.source != source or existing.sha256 != sha256 or existing.entrypoint != entrypoint:
            raise SourceConflict(spec.name, spec.version, f"{existing.source} (sha256 {existing.sha256})", f"{source} (sha256 {sha256})") from None
        return False


def check_entrypoint(entrypoint: str, source: str) -> None:
    """Refuse, before loading anything, an entrypoint that is not ``path.py:flow`` (or
    ``module:flow``), or whose file is not in a local ``source``."""
    from lume_prefect.registry.validation import entrypoint as valid_entrypoint

    valid_entrypoint(entrypoint)
    path = entrypoint.rpartition(":")[0]
    if path.endswith(".py") and os.path.isdir(source) and not os.path.isfile(os.path.join(source, path)):
        raise FileNotFoundError(errno.ENOENT, f"entrypoint {entrypoint!r}: no file {path!r} in {source!r}", os.path.join(source, path))


def register_model_version(entrypoint: str, source: str = ".", *, services: LumeServices | str | None = None, image: Optional[str] = None) -> bool:
    """Register the model version at ``entrypoint`` of a local ``source`` without deploying it (in-process use)."""
    check_source(source)
    check_entrypoint(entrypoint, source)
    env = resolve(services, "services")
    resolved = str(Path(source).resolve())
    return register_spec(env, spec_of(load_model_flow(entrypoint, resolved), entrypoint, source), source=resolved, entrypoint=entrypoint, image=image)


def deploy_model(
    entrypoint: str,
    source: str = ".",
    *,
    services: LumeServices | str | None = None,
    work_pool: Optional[str] = None,
    cron: Optional[str] = None,
    interval: Optional[float | timedelta] = None,
    image: Optional[str] = None,
    runs_from: Optional[str] = None,
    tags: Optional[list[str]] = None,
    job_variables: Optional[dict[str, Any]] = None,
    paused: bool = False,
) -> Deployed:
    """Register the model version at ``entrypoint`` of ``source`` and create its Prefect deployment.

    ``source`` is a local directory (or a git URL); ``entrypoint`` is ``path.py:flow``
    relative to it. The flow must be a model flow (``ModelSpec.flow``). Runs of the
    deployment find their services through ``LUME_SERVICES`` set in the job's environment.
    The deployment's parameter schema is the one Prefect derives from the flow's signature,
    which ``ModelSpec.flow`` builds from the spec (defaults, ranges, units, descriptions).

    ``runs_from`` is the directory that holds ``source``'s files where the runs start, when
    that is not ``source`` itself: inside ``image`` on a container pool, or on a worker's
    own machine. On a container pool, a ``MountedFiles`` files block of the services is
    mounted into the container (``host_path:mount_path``, added to the ``volumes`` job
    variable where the pool has one).

    A plain function: it works from sync code and from async code or an async flow alike
    (it blocks while it deploys).
    """
    from prefect.flows import Flow
    from prefect.utilities.collections import get_from_dict

    check_source(source)
    check_entrypoint(entrypoint, source)
    check_schedule(cron, interval)
    env = resolve(services, "services")
    local = os.path.isdir(source)
    resolved_source = str(Path(source).resolve()) if local else source
    # _sync=True: these Prefect methods return coroutines when called inside an event loop
    model_flow = Flow.from_source(source=resolved_source, entrypoint=entrypoint, _sync=True)
    spec = spec_of(model_flow, entrypoint, source)
    pool_name = work_pool or env.work_pool
    pool = ensure_work_pool(pool_name, create=work_pool is None)  # the services' own pool is made on first use
    if image and not get_from_dict(pool.base_job_template, "variables.properties.image", False):
        raise ValueError(f"work pool {pool_name!r} (type {pool.type}) takes no image: give image only with a docker or kubernetes pool")
    registered = register_spec(env, spec, source=resolved_source, entrypoint=entrypoint, image=image)
    variables = dict(job_variables or {})
    if isinstance(env.files, MountedFiles) and get_from_dict(pool.base_job_template, "variables.properties.volumes", False):
        volumes = list(variables.get("volumes", []))
        variables["volumes"] = volumes if env.files.volume in volumes else [*volumes, env.files.volume]
    variables["env"] = {**variables.get("env", {}), SERVICES_ENV: services_name(services if isinstance(services, str) else None) if not isinstance(services, LumeServices) else _saved_name(env)}
    deployment = model_flow.to_deployment(
        name=spec.version,
        version=spec.version,
        tags=["lume-prefect", f"model:{spec.name}", *(tags or [])],
        description=spec.description or None,
        cron=cron,
        interval=interval,
        paused=paused,
        job_variables=variables,
        _sync=True,
    )
    if runs_from:
        from prefect.runner.storage import LocalStorage

        deployment.storage = LocalStorage(runs_from)  # its pull step: set_working_directory(runs_from)
    # What prefect.deploy(build=False, push=False) does for one deployment, minus its image
    # renaming and console output; prefect.deploy() itself fails inside a running event loop.
    deployment_id = deployment.apply(work_pool_name=pool_name, image=image, _sync=True)
    deployment_name = f"{spec.name}/{spec.version}"
    env.registry.set_deployment(spec.name, spec.version, deployment_name=deployment_name, deployment_id=str(deployment_id), _sync=True)
    return Deployed(spec.name, spec.version, deployment_name, str(deployment_id), registered)


def _saved_name(services: LumeServices) -> str:
    name = services._block_document_name
    if not name or services._is_anonymous:
        raise ValueError("deploying with an unsaved LumeServices: save it first, so that workers can load it by name")
    return name
