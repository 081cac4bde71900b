"""The ``ModelRegistry`` block: a registry database configured once, loaded by name anywhere.

Its methods are ``SQLRegistry``'s: each is sync in sync code and awaitable in async code
(Prefect's convention), with an explicit async twin of the same name prefixed by ``a``.
"""

from __future__ import annotations

from pydantic import ConfigDict, Field, SecretStr, field_validator

from lume_prefect.core.blocks import ServiceBlock, delegate, docs_url, logo_url
from lume_prefect.core.paths import sqlite_url
from lume_prefect.registry.store import SQLRegistry


def _default_url() -> SecretStr:
    return SecretStr(sqlite_url("registry.db"))


@delegate(
    SQLRegistry,
    "register_model", "update_model", "get_model", "list_models",
    "register_version", "get_version", "list_versions", "latest_version", "set_deployment",
    "set_alias", "remove_alias", "get_alias", "promote", "live_version", "revert", "history",
    "upgrade", "relocate_source",
)
class ModelRegistry(ServiceBlock):
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
    _documentation_url = docs_url(_block_type_slug)
    _logo_url = logo_url("filesystem")
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

    def _build(self) -> SQLRegistry:
        return SQLRegistry(self.url.get_secret_value())

    def registry(self) -> SQLRegistry:
        """The ``SQLRegistry`` behind this block (one per URL in a process)."""
        return self._domain()
