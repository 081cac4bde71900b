"""What the registry blocks are configured with, without Prefect: their fields (names, types,
defaults, descriptions, checks) and the registry they build.

``ModelRegistry`` and ``MLflowRegistry`` (``blocks.py``) take their fields from these classes;
a command that only reads or writes the registry builds the same store from a saved block's
data without importing Prefect (``lume_prefect.stores``).
"""

from __future__ import annotations

from typing import Any, ClassVar, Optional

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from lume_prefect.core.paths import sqlite_url
from lume_prefect.registry.store import SQLRegistry


def _default_url() -> SecretStr:
    return SecretStr(sqlite_url("registry.db"))


class ModelRegistrySettings(BaseModel):
    """A registry in a SQL database (``ModelRegistry``)."""

    type_slug: ClassVar[str] = "lume-model-registry"
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

    def build(self) -> SQLRegistry:
        """The registry in the database at ``url``."""
        return SQLRegistry(self.url.get_secret_value())


class MLflowRegistrySettings(BaseModel):
    """The registry on an MLflow tracking server (``MLflowRegistry``)."""

    type_slug: ClassVar[str] = "lume-mlflow-registry"
    model_config = ConfigDict(hide_input_in_errors=True)

    tracking_uri: str = Field(
        description="The MLflow tracking server, e.g. https://mlflow.example.org or http://127.0.0.1:5000 (no password in it: use the password field).",
        examples=["https://mlflow.example.org"],
    )
    username: Optional[str] = Field(default=None, description="User name for the server's basic authentication, if it has one.")
    password: Optional[SecretStr] = Field(default=None, description="Password for the server's basic authentication.")
    token: Optional[SecretStr] = Field(default=None, description="Bearer token, for servers that authenticate with tokens instead.")
    live_alias: str = Field(default="live", description="The MLflow alias that means live (promote and revert move it), e.g. live or champion.")
    timeout: float = Field(default=10.0, gt=0, description="Seconds to wait for the server on each request, retries included.")

    @field_validator("username", "password", "token", mode="before")
    @classmethod
    def _empty_is_none(cls, value):  # type: ignore[no-untyped-def]
        # a profile's ${VAR:-} gives "" for "no credentials"
        return None if value in ("", None) or (isinstance(value, SecretStr) and not value.get_secret_value()) else value

    @field_validator("tracking_uri")
    @classmethod
    def _http_uri(cls, value: str) -> str:
        from lume_prefect.registry.mlflow_store import masked_uri
        from urllib.parse import urlsplit

        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"tracking_uri {masked_uri(value)!r}: an MLflow tracking URI must be http(s)://host[:port]")
        if parts.password is not None:
            raise ValueError(f"tracking_uri {masked_uri(value)!r}: put the password in the password field, not in the URI")
        return value

    def build(self) -> Any:
        """The ``MLflowStore`` on ``tracking_uri``."""
        from lume_prefect.registry.mlflow_store import MLflowStore

        return MLflowStore(
            self.tracking_uri,
            username=self.username,
            password=None if self.password is None else self.password.get_secret_value(),
            token=None if self.token is None else self.token.get_secret_value(),
            live_alias=self.live_alias,
            timeout=self.timeout,
        )
