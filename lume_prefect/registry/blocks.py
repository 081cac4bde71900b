"""The registry blocks: ``ModelRegistry`` (a SQL database) and ``MLflowRegistry`` (an MLflow
tracking server), each configured once and loaded by name anywhere.

Their methods are the registry interface (``SQLRegistry``'s, which ``MLflowStore`` shares):
each is sync in sync code and awaitable in async code (Prefect's convention), with an
explicit async twin of the same name prefixed by ``a``.
"""

from __future__ import annotations

from lume_prefect.core.blocks import ServiceBlock, delegate, docs_url, logo_url
from lume_prefect.registry.settings import MLflowRegistrySettings, ModelRegistrySettings
from lume_prefect.registry.store import SQLRegistry

REGISTRY_METHODS = (
    "register_model", "update_model", "get_model", "list_models",
    "register_version", "get_version", "list_versions", "latest_version", "set_deployment",
    "set_alias", "remove_alias", "get_alias", "promote", "live_version", "revert", "history",
    "upgrade", "relocate_source", "append_history",
)


@delegate(SQLRegistry, *REGISTRY_METHODS)
class ModelRegistry(ServiceBlock, ModelRegistrySettings):
    """Models, their versions, the live version and its history, in a SQL database.

    ``url`` is a SQLAlchemy URL: SQLite (the default, a file in your data directory or
    ``$LUME_PREFECT_HOME``), PostgreSQL (``postgresql+psycopg://...``) or MariaDB/MySQL
    (``mysql+pymysql://...``). A fresh database is set up on first use; after upgrading
    lume-prefect, run ``lume-prefect registry upgrade`` once if told to.

    Versions are PEP 440 (``1.10`` is newer than ``1.9``). Promoting a version points the
    ``live`` alias at it; ``revert`` points it back, and every change is in ``history``.

    Examples:
        Register a model and a version, make it live, and go back:
        ```python
        from lume_prefect.registry import ModelRegistry

        ModelRegistry(url="postgresql+psycopg://lume:secret@db:5432/lume").save("facility-registry")

        registry = ModelRegistry.load("BLOCK_NAME")  # e.g. "facility-registry"
        registry.register_model("injector-surrogate", author="Jane Doe", laboratory="SLAC",
                                facility="LCLS", beampath="cu_hxr", tags={"kind": "surrogate"})
        registry.register_version("injector-surrogate", "1.2.0",
                                  source="injector-surrogate==1.2.0",
                                  entrypoint="injector_surrogate.flow:run")
        registry.promote("injector-surrogate", "1.2.0")
        registry.live_version("injector-surrogate").entrypoint   # 'injector_surrogate.flow:run'
        registry.revert("injector-surrogate")                    # back to the previous live version
        ```
    """

    _block_type_name = "LUME Model Registry"
    _block_type_slug = ModelRegistrySettings.type_slug
    _description = (
        "Registry of models and their versions (source, image, flow, parameters) with the live "
        "version, aliases and a history to revert; stored in SQLite, PostgreSQL or MariaDB."
    )
    _documentation_url = docs_url(_block_type_slug)
    _logo_url = logo_url("filesystem")

    def _build(self) -> SQLRegistry:
        return self.build()

    def registry(self) -> SQLRegistry:
        """The ``SQLRegistry`` behind this block (one per URL in a process)."""
        return self._domain()


# The interface is SQLRegistry's (signatures, docstrings); the calls go to MLflowStore.
@delegate(SQLRegistry, *REGISTRY_METHODS)
class MLflowRegistry(ServiceBlock, MLflowRegistrySettings):
    """The model registry on an MLflow tracking server: MLflow's registered models, versions,
    tags and aliases, seen by MLflow users as they are.

    A lume version is an MLflow model version tagged ``lume.version``, ``lume.source``,
    ``lume.entrypoint``, ``lume.sha256``, ``lume.image`` and ``lume.deployment_id``; its run
    (experiment ``lume-prefect``) keeps the source, so workers elsewhere can fetch it. Live is
    the MLflow alias ``live_alias``; every alias change is a registered-model tag
    ``lume.history.<n>`` (who, when, from, to). Models registered by others (lume-torch's
    ``register_to_mlflow``) are listed and run by name and version or alias too.

    Examples:
        Keep the registry in MLflow:
        ```python
        from lume_prefect.registry import MLflowRegistry

        MLflowRegistry(tracking_uri="https://mlflow.example.org", username="lume",
                       password="secret").save("facility-mlflow")

        registry = MLflowRegistry.load("BLOCK_NAME")  # e.g. "facility-mlflow"
        registry.promote("injector-surrogate", "1.2.0")
        registry.live_version("injector-surrogate").version   # '1.2.0'
        ```
    """

    _block_type_name = "LUME MLflow Registry"
    _block_type_slug = MLflowRegistrySettings.type_slug
    _description = (
        "The model registry on an MLflow tracking server: models, versions (source, flow, image, "
        "deployment), the live alias and its history, as MLflow registered models, versions, tags and aliases."
    )
    _documentation_url = docs_url(_block_type_slug)
    _logo_url = logo_url("filesystem")

    def _build(self):  # type: ignore[no-untyped-def]
        return self.build()

    def registry(self):  # type: ignore[no-untyped-def]
        """The ``MLflowStore`` behind this block (one per configuration in a process)."""
        return self._domain()

    def fetch_artifacts(self, name: str, version: str):  # type: ignore[no-untyped-def]
        """The artifacts of a version registered by others, downloaded once (see ``MLflowStore.fetch_artifacts``)."""
        return self._domain().fetch_artifacts(name, version)

    def fetch_source(self, name: str, version: str):  # type: ignore[no-untyped-def]
        """The uploaded source of a version, unpacked locally (see ``MLflowStore.fetch_source``)."""
        return self._domain().fetch_source(name, version)
