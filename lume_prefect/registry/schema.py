"""The registry's tables (SQLAlchemy 2 ORM), identical on SQLite, PostgreSQL and MariaDB.

Migrations in ``migrations/versions`` build exactly this schema; a test compares the two.
Times are UTC instants (timestamptz on PostgreSQL, naive UTC on SQLite and MariaDB, which
keep no zone; see ``core.sqltypes``) and read back aware; JSON is jsonb on PostgreSQL.
Every MariaDB table uses ``utf8mb4_bin`` so that names compare case-sensitively, as they
do on the other backends.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Optional

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from lume_prefect.core.sqltypes import JSON_TYPE, UTCDateTime
from lume_prefect.registry.versions import MAX_VERSION_LENGTH, SORT_KEY_LENGTH

NAME_LENGTH = 100
ALIAS_LENGTH = 50
TEXT_LENGTH = 500
MYSQL_TABLE = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin", "mysql_engine": "InnoDB"}


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


# Deterministic constraint names, so that migrations can name what they alter on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


class ModelRow(Base):
    __tablename__ = "lume_models"
    __table_args__ = (MYSQL_TABLE,)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(sa.String(NAME_LENGTH), unique=True, nullable=False)
    author: Mapped[str] = mapped_column(sa.String(TEXT_LENGTH), nullable=False)
    laboratory: Mapped[str] = mapped_column(sa.String(TEXT_LENGTH), nullable=False)
    facility: Mapped[str] = mapped_column(sa.String(TEXT_LENGTH), nullable=False)
    beampath: Mapped[str] = mapped_column(sa.String(TEXT_LENGTH), nullable=False)
    description: Mapped[str] = mapped_column(sa.Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class ModelTagRow(Base):
    __tablename__ = "lume_model_tags"
    __table_args__ = (sa.Index("ix_lume_model_tags_tag_value", "tag", "value"), MYSQL_TABLE)

    model_id: Mapped[int] = mapped_column(sa.ForeignKey("lume_models.id", ondelete="CASCADE"), primary_key=True)
    tag: Mapped[str] = mapped_column(sa.String(NAME_LENGTH), primary_key=True)
    value: Mapped[str] = mapped_column(sa.String(TEXT_LENGTH), nullable=False)


class VersionRow(Base):
    __tablename__ = "lume_model_versions"
    __table_args__ = (
        # PEP 440-equal versions (1.0, 1.0.0) are one version; this index also serves "latest"
        sa.UniqueConstraint("model_id", "sort_key"),
        MYSQL_TABLE,
    )

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    model_id: Mapped[int] = mapped_column(sa.ForeignKey("lume_models.id", ondelete="CASCADE"), nullable=False)
    version: Mapped[str] = mapped_column(sa.String(MAX_VERSION_LENGTH), nullable=False)
    sort_key: Mapped[str] = mapped_column(sa.String(SORT_KEY_LENGTH), nullable=False)
    source: Mapped[str] = mapped_column(sa.Text, nullable=False)
    sha256: Mapped[Optional[str]] = mapped_column(sa.String(64))
    image: Mapped[Optional[str]] = mapped_column(sa.String(TEXT_LENGTH))
    entrypoint: Mapped[str] = mapped_column(sa.String(TEXT_LENGTH), nullable=False)
    parameters_schema: Mapped[Optional[dict[str, Any]]] = mapped_column(JSON_TYPE)
    registered_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    registered_by: Mapped[str] = mapped_column(sa.String(NAME_LENGTH), nullable=False)
    # added by revision 0002: filled in once the version is deployed (issue 5)
    deployment_name: Mapped[Optional[str]] = mapped_column(sa.String(TEXT_LENGTH))
    deployment_id: Mapped[Optional[str]] = mapped_column(sa.String(36))
    deployed_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)


class AliasRow(Base):
    __tablename__ = "lume_model_aliases"
    # revision 0004
    __table_args__ = (sa.Index("ix_lume_model_aliases_version_id", "version_id"), MYSQL_TABLE)

    model_id: Mapped[int] = mapped_column(sa.ForeignKey("lume_models.id", ondelete="CASCADE"), primary_key=True)
    alias: Mapped[str] = mapped_column(sa.String(ALIAS_LENGTH), primary_key=True)
    version_id: Mapped[int] = mapped_column(sa.ForeignKey("lume_model_versions.id", ondelete="CASCADE"), nullable=False)


class AliasChangeRow(Base):
    """One change of an alias; ``reverted_id`` marks a revert and names the change it undid."""

    __tablename__ = "lume_model_alias_history"
    __table_args__ = (
        sa.Index("ix_lume_model_alias_history_model_alias", "model_id", "alias", "id"),
        *(sa.Index(f"ix_lume_model_alias_history_{c}", c) for c in ("from_version_id", "to_version_id", "reverted_id")),
        MYSQL_TABLE,
    )

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    model_id: Mapped[int] = mapped_column(sa.ForeignKey("lume_models.id", ondelete="CASCADE"), nullable=False)
    alias: Mapped[str] = mapped_column(sa.String(ALIAS_LENGTH), nullable=False)
    from_version_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("lume_model_versions.id", ondelete="CASCADE"))
    to_version_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("lume_model_versions.id", ondelete="CASCADE"))
    reverted_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("lume_model_alias_history.id", ondelete="CASCADE"))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    changed_by: Mapped[str] = mapped_column(sa.String(NAME_LENGTH), nullable=False)


models = ModelRow.__table__
tags = ModelTagRow.__table__
versions = VersionRow.__table__
aliases = AliasRow.__table__
alias_history = AliasChangeRow.__table__
