"""Deploying a model version: register it in the registry and create its Prefect deployment.

The deployment is named after the version (``<model>/<version>``: the flow is named after
the model) unless given another name, carries the version, tags and the spec's parameter
schema, runs on a work pool, and optionally on a cron or interval schedule. Re-deploying a
version from the same source is a no-op for the registry (the deployment is updated); from a
different source it is refused with SourceConflict; over the deployment of other services on
the same Prefect server with DeploymentOfOtherServices (``models.ownership``).
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Optional

from lume_prefect.files.blocks import MountedFiles
from lume_prefect.models.contract import ModelSpec
from lume_prefect.models.errors import RunsFromRequired, SourceConflict
from lume_prefect.models.source_files import source_sha256
from lume_prefect.models.loading import load_model_flow, spec_of
from lume_prefect.models.ownership import check_deployment_name, check_owner, deployment_name_of
from lume_prefect.core.resolve import resolve
from lume_prefect.services import SERVICES_ENV, LumeServices, services_name

# A work pool variable whose default true says the pool's workers do not see the deploying
# machine's files (deployments/compose.yaml's workers, in containers): runs_from is required.
RUNS_FROM_REQUIRED = "lume_runs_from_required"


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


def register_model_version(
    entrypoint: str,
    source: str = ".",
    *,
    services: LumeServices | str | None = None,
    image: Optional[str] = None,
    name: Optional[str] = None,
    version: Optional[str] = None,
    **lume: Any,
) -> bool:
    """Register the model version at ``entrypoint`` of a local ``source`` without deploying it (in-process use).

    ``entrypoint`` is a model flow (``path.py:flow``), or a LUME model, which carries no
    name or version (give ``name`` and ``version``): a lume-torch YAML (``model.yml`` with
    its ``.pt`` files), or ``path.py:name`` naming a ``LUMEModel`` or ``LUMETorch`` instance
    or a function returning one. ``lume`` options of a LUME model: ``stateless``,
    ``vectorized``, ``author`` (default: the OS user), ``laboratory``, ``facility``,
    ``beampath`` (default: ``unspecified``), ``description``, ``tags``
    (see ``lume_prefect.lume.entry.lume_registration``).
    """
    check_source(source)
    env = resolve(services, "services")
    resolved = str(Path(source).resolve())
    entrypoint, spec = model_to_register(entrypoint, source, name=name, version=version, **lume)
    return register_spec(env, spec, source=resolved, entrypoint=entrypoint, image=image)


def is_lume_model_path(entrypoint: str) -> bool:
    """A lume-torch model YAML."""
    return entrypoint.endswith((".yml", ".yaml")) and ":" not in entrypoint


def model_to_register(
    entrypoint: str, source: str, *, name: Optional[str] = None, version: Optional[str] = None, **lume: Any
) -> tuple[str, ModelSpec]:
    """(registry entrypoint, spec) of the model at ``entrypoint``: a model flow as it is, a
    LUME model (given ``name`` and ``version``) under its ``lume_prefect.lume`` entrypoint."""
    resolved = str(Path(source).resolve())
    if name is None and version is None and not lume and not is_lume_model_path(entrypoint):
        from prefect.exceptions import MissingFlowError

        check_entrypoint(entrypoint, source)
        try:
            model_flow = load_model_flow(entrypoint, resolved)
        except MissingFlowError as exc:
            raise TypeError(f"{entrypoint} in {source} is not a model flow ({exc}): decorate it with ModelSpec.flow; "
                            "a LUME model (a LUMEModel, a LUMETorch or a function returning one) is registered with name and version") from None
        return entrypoint, spec_of(model_flow, entrypoint, source)
    if not name or not version:
        missing = " and ".join(k for k, v in (("name", name), ("version", version)) if not v)
        raise ValueError(f"{entrypoint}: a LUME model carries no name or version: give {missing}")
    if not is_lume_model_path(entrypoint):
        check_entrypoint(entrypoint, source)
    from lume_prefect.lume.entry import lume_registration

    return lume_registration(entrypoint, resolved, name=name, version=version, **lume)


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
    name: Optional[str] = None,
    version: Optional[str] = None,
    deployment_name: Optional[str] = None,
    replace: bool = False,
    **lume: Any,
) -> Deployed:
    """Register the model version at ``entrypoint`` of ``source`` and create its Prefect deployment.

    ``source`` is a local directory (or a git URL); ``entrypoint`` is ``path.py:flow``
    relative to it. The flow must be a model flow (``ModelSpec.flow``). Runs of the
    deployment find their services through ``LUME_SERVICES`` set in the job's environment.
    The deployment's parameter schema is the one Prefect derives from the flow's signature,
    which ``ModelSpec.flow`` builds from the spec (defaults, ranges, units, descriptions).

    ``runs_from`` is the directory that holds ``source``'s files where the runs start, when
    that is not ``source`` itself: inside ``image`` on a container pool, or on a worker's
    own machine; a pool whose template marks it required (``lume_runs_from_required``: the
    compose stack's workers, in containers) refuses a deployment without it. On a container
    pool, a ``MountedFiles`` files block of the services is mounted into the container
    (``host_path:mount_path``, added to the ``volumes`` job variable where the pool has one).
    Re-deploying a version without ``cron`` or ``interval`` keeps its deployment's
    schedules; ``image`` is recorded with the version in the registry.

    The deployment is ``<model>/<deployment_name>``: by default the name this environment's
    registry recorded for the version at its last deploy, else the version. A deployment of
    that name whose runs use other services (another environment on the same Prefect server)
    is not overwritten: DeploymentOfOtherServices, unless ``replace``. Give each environment
    its own ``deployment_name`` (e.g. ``1.0.0-staging``); the registry records it, and
    ``run_model`` and scans run the recorded deployment.

    A LUME model (a lume-torch YAML, or ``path.py:name`` naming a LUMEModel or LUMETorch or a
    function returning one) is deployed with ``name`` and ``version`` and the ``lume`` options
    of ``register_model_version``; its deployment runs ``lume_prefect.lume.entry`` in the
    source's directory.

    A plain function: it works from sync code and from async code or an async flow alike
    (it blocks while it deploys).
    """
    from prefect.flows import Flow
    from prefect.utilities.collections import get_from_dict

    check_source(source)
    check_schedule(cron, interval)
    check_deployment_name(deployment_name)
    env = resolve(services, "services")
    local = os.path.isdir(source)
    resolved_source = str(Path(source).resolve()) if local else source
    lume_model = name is not None or version is not None or bool(lume) or is_lume_model_path(entrypoint)
    if lume_model:
        entrypoint, spec = model_to_register(entrypoint, source, name=name, version=version, **lume)
        model_flow = load_model_flow(entrypoint, resolved_source)
    else:
        check_entrypoint(entrypoint, source)
        # _sync=True: these Prefect methods return coroutines when called inside an event loop
        model_flow = Flow.from_source(source=resolved_source, entrypoint=entrypoint, _sync=True)
        spec = spec_of(model_flow, entrypoint, source)
    pool_name = work_pool or env.work_pool
    pool = ensure_work_pool(pool_name, create=work_pool is None)  # the services' own pool is made on first use
    if image and not get_from_dict(pool.base_job_template, "variables.properties.image", False):
        raise ValueError(f"work pool {pool_name!r} (type {pool.type}) takes no image: give image only with a docker or kubernetes pool")
    if runs_from is None and get_from_dict(pool.base_job_template, f"variables.properties.{RUNS_FROM_REQUIRED}.default", False):
        raise RunsFromRequired(spec.name, spec.version, pool_name, resolved_source)
    own_name = deployment_name_of(env.registry, spec.name, spec.version, deployment_name)
    services_env = services_name(services if isinstance(services, str) else None) if not isinstance(services, LumeServices) else _saved_name(env)
    full_name = f"{spec.name}/{own_name}"
    check_owner(full_name, services_env, replace)  # before anything is registered or written
    registered = register_spec(env, spec, source=resolved_source, entrypoint=entrypoint, image=image)
    variables = dict(job_variables or {})
    if isinstance(env.files, MountedFiles) and get_from_dict(pool.base_job_template, "variables.properties.volumes", False):
        volumes = list(variables.get("volumes", []))
        variables["volumes"] = volumes if env.files.volume in volumes else [*volumes, env.files.volume]
    variables["env"] = {**variables.get("env", {}), SERVICES_ENV: services_env}
    deployment = model_flow.to_deployment(
        name=own_name,
        version=spec.version,
        tags=["lume-prefect", f"model:{spec.name}", *(tags or [])],
        description=spec.description or None,
        cron=cron,
        interval=interval,
        paused=paused,
        job_variables=variables,
        _sync=True,
    )
    if cron is None and interval is None:
        deployment.schedules = _current_schedules(deployment.full_name)  # re-deploying keeps the schedules
    if lume_model:  # built here, not loaded from the source: point its runs at the model's files
        deployment.entrypoint = entrypoint
    from prefect.runner.storage import LocalStorage

    if runs_from or lume_model or isinstance(deployment.storage, LocalStorage):
        directory = runs_from or (resolved_source if lume_model else str(deployment.storage.destination))
        deployment.storage = _directory_class()(directory)
    # What prefect.deploy(build=False, push=False) does for one deployment, minus its image
    # renaming and console output; prefect.deploy() itself fails inside a running event loop.
    deployment_id = deployment.apply(work_pool_name=pool_name, image=image, _sync=True)
    env.registry.set_deployment(spec.name, spec.version, deployment_name=full_name, deployment_id=str(deployment_id), image=image, _sync=True)
    return Deployed(spec.name, spec.version, full_name, str(deployment_id), registered)


def _directory_class() -> type:
    from prefect.runner.storage import LocalStorage

    class Directory(LocalStorage):
        """Runs start in this directory (``models.pull.set_working_directory``, which says in
        the flow run's logs when the directory is missing where the run starts)."""

        def to_pull_step(self) -> dict[str, Any]:
            return {"lume_prefect.models.pull.set_working_directory": {"directory": str(self.destination)}}

    return Directory


def _current_schedules(deployment_name: str) -> list[Any]:
    """The schedules of the existing deployment ``flow/name`` (none if there is none yet), as
    ``to_deployment`` takes them: a re-deploy without cron or interval keeps them."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import DeploymentScheduleCreate
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            existing = client.read_deployment_by_name(deployment_name)
        except ObjectNotFound:
            return []
    return [
        DeploymentScheduleCreate(schedule=s.schedule, active=s.active, parameters=s.parameters, slug=s.slug, max_scheduled_runs=s.max_scheduled_runs)
        for s in existing.schedules
    ]


def _saved_name(services: LumeServices) -> str:
    name = services._block_document_name
    if not name or services._is_anonymous:
        raise ValueError("deploying with an unsaved LumeServices: save it first, so that workers can load it by name")
    return name
