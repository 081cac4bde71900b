"""Which services a model version's Prefect deployment belongs to, and its name.

A deployment is named ``<model>/<name>`` server-wide: ``<name>`` is the version unless the
deploy gives another. Its job variables set ``LUME_SERVICES``, the services block whose
registry and results store its runs use. Two environments (``prod`` and ``staging``) on one
Prefect server deploying the same version under the same name would overwrite each other's
deployment, and the runs of one would land in the stores of the other: a deploy over the
deployment of another services block is refused (``DeploymentOfOtherServices``) unless it
gives its own ``deployment_name`` or ``replace``. The registry records the name, so
``run_model`` and scans with ``executor="deployment"`` run the deployment of their own
environment.
"""

from __future__ import annotations

from typing import Any, Optional

from lume_prefect.models.errors import DeploymentOfOtherServices
from lume_prefect.services import SERVICES_ENV

# Prefect refuses these in a deployment's name (prefect.types.names.BANNED_CHARACTERS)
BANNED = ("/", "%", "&", ">", "<")


def check_deployment_name(given: Any) -> None:
    """ValueError unless ``given`` is None or a name Prefect takes for a deployment."""
    if given is not None and (not isinstance(given, str) or not given.strip() or any(c in given for c in BANNED)):
        raise ValueError(f"deployment_name must be a non-empty name without any of {' '.join(BANNED)} "
                         f"(the deployment is '<model>/<deployment_name>'), got {given!r}")


def deployment_name_of(registry: Any, model: str, version: str, given: Optional[str]) -> str:
    """The deployment's own name (after ``<model>/``): ``given``; else the one this
    environment's registry recorded for the version (a re-deploy keeps it); else the version."""
    if given is not None:
        check_deployment_name(given)
        return given
    from lume_prefect.registry.errors import ModelNotFound, VersionNotFound

    try:
        recorded = registry.get_version(model, version, _sync=True).deployment_name
    except (ModelNotFound, VersionNotFound):
        recorded = None
    flow, sep, name = (recorded or "").partition("/")
    return name if sep and flow == model and name else version


def owner_of(deployment: Any) -> Optional[str]:
    """The services block a deployment's runs use (``LUME_SERVICES`` in its job variables);
    None for one that names none (a placeholder ``prefect deploy`` reserved, or not ours)."""
    env = (getattr(deployment, "job_variables", None) or {}).get("env")
    owner = env.get(SERVICES_ENV) if isinstance(env, dict) else None
    return owner if isinstance(owner, str) and owner else None


def check_owner(full_name: str, services: str, replace: bool) -> Optional[Any]:
    """The existing deployment ``full_name`` (None if there is none); DeploymentOfOtherServices
    if it belongs to services other than ``services`` and not ``replace``."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            existing = client.read_deployment_by_name(full_name)
        except ObjectNotFound:
            return None
    owner = owner_of(existing)
    if owner is not None and owner != services and not replace:
        raise DeploymentOfOtherServices(full_name, owner, services)
    return existing
