"""LumeServices: one block naming the services of an environment (local, dev, prod).

A run finds its file system, model registry, results store and (optionally) Slurm cluster
through one saved ``LumeServices`` block, chosen by name: an explicit argument, else the
``LUME_SERVICES`` environment variable, else ``local``. The ``local`` environment is created
on first use with embedded defaults (SQLite registry and results, local files under the
lume-prefect data directory), so the same flow code runs on a laptop and in production.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal, Optional, Union

from prefect.blocks.core import Block
from pydantic import Field

from lume_prefect.core.blocks import docs_url, logo_url
from lume_prefect.core.paths import data_dir
from lume_prefect.files.blocks import LocalFiles, MountedFiles, S3Files
from lume_prefect.registry.blocks import MLflowRegistry, ModelRegistry
from lume_prefect.results.blocks import MongoResults, SQLResults
from lume_prefect.slurm.blocks import SlurmCluster
from lume_prefect.stores import (
    DEFAULT_SERVICES,
    SERVICES_ENV,
    local_elsewhere,
    local_configuration,
    no_services,
    services_name,
    warn_local_elsewhere,
)

__all__ = ["DEFAULT_SERVICES", "SERVICES_ENV", "LumeServices", "RunMode", "load_services", "local_services", "services_name"]
RunMode = Literal["in-process", "remote"]


class LumeServices(Block):
    """The services of one environment: files, model registry, results store, Slurm.

    ``run_mode`` decides how ``run_model`` runs a model: ``in-process`` imports the flow
    and calls it (fast models, laptops), ``remote`` runs the version's Prefect deployment
    on a worker and waits for it (slow models, clusters). Flows find this block by name
    through the ``LUME_SERVICES`` environment variable, so deployments set only that.

    Examples:
        Load the services of the current environment:
        ```python
        from lume_prefect.services import LumeServices

        services = LumeServices.load("BLOCK_NAME")
        services.results.find(model="toy-beam")
        ```
    """

    _block_type_name = "LUME Services"
    _block_type_slug = "lume-services"
    _description = "The file system, model registry, results store and Slurm cluster of one environment (local, dev, prod)."
    _documentation_url = docs_url(_block_type_slug)
    _logo_url = logo_url("filesystem")

    # Unions of the concrete types: Prefect cannot nest an abstract block type.
    files: Union[LocalFiles, MountedFiles, S3Files] = Field(description="Where model inputs and outputs are stored.")
    registry: Union[ModelRegistry, MLflowRegistry] = Field(description="The model registry: models, versions and the live version (SQL or MLflow).")
    results: Union[SQLResults, MongoResults] = Field(description="Where every run's inputs and outputs are kept.")
    slurm: Optional[SlurmCluster] = Field(default=None, description="The Slurm cluster that runs jobs, if any.")
    run_mode: RunMode = Field(
        default="in-process",
        description="How run_model runs a model: in-process (import and call the flow) or remote (run its deployment on a worker).",
    )
    work_pool: str = Field(default="lume-process", description="Work pool that new model deployments use unless told otherwise.")


def local_services() -> LumeServices:
    """The embedded environment (``stores.local_configuration``): SQLite registry and results,
    local files, under the data dir."""
    blocks = {cls.get_block_type_slug(): cls for cls in (LocalFiles, ModelRegistry, SQLResults)}
    return LumeServices(**{kind: blocks[slug](**fields) for kind, (slug, fields) in local_configuration().items()})


def load_services(name: Optional[str] = None) -> LumeServices:
    """Load the services block by name (see ``services_name``); ``local``, when no block of that
    name is saved, is the embedded environment (``local_services``), saved on first use when a
    Prefect API is configured.

    With no Prefect API configured (no ``PREFECT_API_URL``) the block is read straight from the
    database a temporary Prefect server would use (``core.saved_blocks``), and ``local``, when
    not saved there, is built from ``data_dir()`` without saving it: no server starts only to
    find the services. A saved ``local`` always wins over the built one.

    ``local`` follows ``LUME_PREFECT_HOME``: a saved ``local`` block whose files live elsewhere is
    re-pointed (and a warning names both places). Without the variable an existing ``local``
    block is used as saved, and a warning says where it points when that is not the default.
    """
    from lume_prefect.core.saved_blocks import UNKNOWN, load_saved

    chosen = services_name(name)
    saved = load_saved(LumeServices, chosen)
    if saved is None:
        if chosen != DEFAULT_SERVICES:
            raise no_services(chosen)
        built = local_services()
        built._block_document_name = DEFAULT_SERVICES  # what it is by the rule, saved or not: workers build the same
        return built
    if saved is not UNKNOWN and (chosen != DEFAULT_SERVICES or not _needs_repointing(saved)):
        return _follow_home(saved) if chosen == DEFAULT_SERVICES else saved
    try:
        services = LumeServices.load(chosen, _sync=True)
        return _follow_home(services) if chosen == DEFAULT_SERVICES else services
    except ValueError:
        if chosen != DEFAULT_SERVICES:
            raise no_services(chosen) from None
    services = local_services()
    services.save(DEFAULT_SERVICES, overwrite=True, _sync=True)
    return LumeServices.load(DEFAULT_SERVICES, _sync=True)


def _needs_repointing(saved: LumeServices) -> bool:
    return bool(os.environ.get("LUME_PREFECT_HOME")) and local_elsewhere(getattr(saved.files, "basepath", None))


def _follow_home(saved: LumeServices) -> LumeServices:
    import logging

    where = getattr(saved.files, "basepath", None)
    if not local_elsewhere(where):
        return saved
    if not os.environ.get("LUME_PREFECT_HOME"):
        warn_local_elsewhere(where)
        return saved
    logging.getLogger("lume_prefect.services").warning(
        "the %r services pointed at %s; LUME_PREFECT_HOME now says %s: re-pointed (the old data stays where it is)",
        DEFAULT_SERVICES, Path(where).parent, data_dir(),
    )
    local_services().save(DEFAULT_SERVICES, overwrite=True, _sync=True)
    return LumeServices.load(DEFAULT_SERVICES, _sync=True)
