"""The ``ModelRegistry`` block: a registry database configured once, loaded by name anywhere.

Every method is sync in sync code and awaitable in async code (Prefect's convention);
the explicit async twin has the same name with an ``a`` prefix.
"""

from __future__ import annotations

from typing import Any, Optional

from prefect.blocks.core import Block
from pydantic import ConfigDict, Field, SecretStr, field_validator

from lume_prefect.files.blocks import sync_or_async
from lume_prefect.registry.engines import default_registry_url
from lume_prefect.registry.records import AliasChange, ModelVersion, RegisteredModel
from lume_prefect.registry.store import SQLRegistry

DOCS_URL = "https://github.com/lume-prefect/lume-prefect#model-registry"
LOGO_URL = "https://raw.githubusercontent.com/PrefectHQ/prefect/420d0d6a78bb6df1fc18bcf188fdad43c1d22ea9/assets/block-logos/filesystem.png"


def _default_url() -> SecretStr:
    return SecretStr(default_registry_url())


class ModelRegistry(Block):
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
    _block_type_slug = "lume-model-registry"
    _description = (
        "Registry of models and their versions (source, image, flow, parameters) with the live "
        "version, aliases and a history to revert; stored in SQLite, PostgreSQL or MariaDB."
    )
    _documentation_url = DOCS_URL
    _logo_url = LOGO_URL
    # A rejected URL may hold a password: validation errors must not echo it.
    model_config = ConfigDict(hide_input_in_errors=True)

    url: SecretStr = Field(
        default_factory=_default_url,
        description=(
            "SQLAlchemy URL of the registry database, e.g. postgresql+psycopg://user:password@host:5432/db, "
            "mysql+pymysql://user:password@host:3306/db or sqlite:////path/registry.db. "
            "Default: a SQLite file in the user's data directory."
        ),
        examples=["postgresql+psycopg://lume:secret@db.example.org:5432/lume"],
    )

    @field_validator("url")
    @classmethod
    def _parseable_url(cls, value: SecretStr) -> SecretStr:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            make_url(value.get_secret_value()).port  # noqa: B018 - a port that is not a number raises here
        except ArgumentError:
            raise ValueError("url is not a SQLAlchemy database URL (e.g. sqlite:////path/registry.db)") from None
        except ValueError:
            raise ValueError("url: the port must be a number") from None
        return value

    def registry(self) -> SQLRegistry:
        """The ``SQLRegistry`` behind this block (engines are shared per URL in a process)."""
        return SQLRegistry(self.url.get_secret_value())

    # ---- models ----------------------------------------------------------------

    @sync_or_async
    def register_model(
        self,
        name: str,
        *,
        author: str,
        laboratory: str,
        facility: str,
        beampath: str,
        description: str = "",
        tags: Optional[dict[str, str]] = None,
        exist_ok: bool = False,
    ) -> RegisteredModel:
        """Register a model with its LUME metadata; ``exist_ok=True`` returns an existing one unchanged."""
        return self.registry().register_model(
            name, author=author, laboratory=laboratory, facility=facility, beampath=beampath,
            description=description, tags=tags, exist_ok=exist_ok,
        )

    @sync_or_async
    def update_model(self, name: str, /, **changes: Any) -> RegisteredModel:
        """Change a model's author, laboratory, facility, beampath, description, or replace its tags."""
        return self.registry().update_model(name, **changes)

    @sync_or_async
    def get_model(self, name: str) -> RegisteredModel:
        """A model with its metadata, tags and aliases."""
        return self.registry().get_model(name)

    @sync_or_async
    def list_models(self, **filters: Any) -> list[RegisteredModel]:
        """Models matching every filter (name, author, laboratory, facility, beampath, tags={...})."""
        return self.registry().list_models(**filters)

    # ---- versions --------------------------------------------------------------

    @sync_or_async
    def register_version(
        self,
        name: str,
        version: str,
        *,
        source: str,
        entrypoint: str,
        sha256: Optional[str] = None,
        image: Optional[str] = None,
        parameters_schema: Optional[dict[str, Any]] = None,
        by: Optional[str] = None,
    ) -> ModelVersion:
        """Record a new PEP 440 version of a model: its source, flow entrypoint, image and inputs schema."""
        return self.registry().register_version(
            name, version, source=source, entrypoint=entrypoint, sha256=sha256, image=image,
            parameters_schema=parameters_schema, by=by,
        )

    @sync_or_async
    def get_version(self, name: str, version: str) -> ModelVersion:
        """One version of a model."""
        return self.registry().get_version(name, version)

    @sync_or_async
    def list_versions(self, name: str) -> list[ModelVersion]:
        """All versions of a model, newest first (PEP 440 order)."""
        return self.registry().list_versions(name)

    @sync_or_async
    def latest_version(self, name: str) -> ModelVersion:
        """The highest version of a model (PEP 440 order)."""
        return self.registry().latest_version(name)

    @sync_or_async
    def set_deployment(
        self, name: str, version: str, *, deployment_name: str, deployment_id: Optional[str] = None
    ) -> ModelVersion:
        """Record the Prefect deployment ('flow/deployment' and its id) that runs a version."""
        return self.registry().set_deployment(name, version, deployment_name=deployment_name, deployment_id=deployment_id)

    # ---- aliases -------------------------------------------------------------

    @sync_or_async
    def set_alias(self, name: str, alias: str, version: str, *, by: Optional[str] = None) -> AliasChange:
        """Point an alias (e.g. 'staging') at a version; recorded in the history."""
        return self.registry().set_alias(name, alias, version, by=by)

    @sync_or_async
    def remove_alias(self, name: str, alias: str, *, by: Optional[str] = None) -> AliasChange:
        """Remove an alias; recorded in the history."""
        return self.registry().remove_alias(name, alias, by=by)

    @sync_or_async
    def get_alias(self, name: str, alias: str) -> ModelVersion:
        """The version an alias points at."""
        return self.registry().get_alias(name, alias)

    @sync_or_async
    def promote(self, name: str, version: str, *, by: Optional[str] = None) -> AliasChange:
        """Make a version the live one."""
        return self.registry().promote(name, version, by=by)

    @sync_or_async
    def live_version(self, name: str) -> ModelVersion:
        """The live version of a model."""
        return self.registry().live_version(name)

    @sync_or_async
    def revert(self, name: str, alias: str = "live", *, by: Optional[str] = None) -> AliasChange:
        """Point the live alias (or another) back at the version it pointed at before."""
        return self.registry().revert(name, alias, by=by)

    @sync_or_async
    def history(self, name: str, alias: Optional[str] = None) -> list[AliasChange]:
        """Every alias change of a model (who, when, from, to), oldest first."""
        return self.registry().history(name, alias)

    @sync_or_async
    def upgrade(self) -> tuple[Optional[str], str]:
        """Migrate the database to this lume-prefect's schema; returns (revision before, after)."""
        return self.registry().upgrade()

    aregister_model = register_model.aio
    aupdate_model = update_model.aio
    aget_model = get_model.aio
    alist_models = list_models.aio
    aregister_version = register_version.aio
    aget_version = get_version.aio
    alist_versions = list_versions.aio
    alatest_version = latest_version.aio
    aset_deployment = set_deployment.aio
    aset_alias = set_alias.aio
    aremove_alias = remove_alias.aio
    aget_alias = get_alias.aio
    apromote = promote.aio
    alive_version = live_version.aio
    arevert = revert.aio
    ahistory = history.aio
    aupgrade = upgrade.aio
