"""The registry's tables (SQLAlchemy Core: the ORM would cost every command that opens the
registry a fifth of a second more to import), identical on SQLite, PostgreSQL and MariaDB.

Migrations in ``migrations/versions`` build exactly this schema; a test compares the two.
Times are UTC instants (timestamptz on PostgreSQL, naive UTC on SQLite and MariaDB, which
keep no zone; see ``core.sqltypes``) and read back aware; JSON is jsonb on PostgreSQL.
Every MariaDB table uses ``utf8mb4_bin`` so that names compare case-sensitively, as they
do on the other backends.
"""

from __future__ import annotations

from datetime import datetime, timezone

import sqlalchemy as sa

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


metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


def _id() -> sa.Column:
    return sa.Column("id", sa.Integer, primary_key=True, autoincrement=True)


def _reference(name: str, table: str, **options: object) -> sa.Column:
    return sa.Column(name, sa.Integer, sa.ForeignKey(f"{table}.id", ondelete="CASCADE"), **options)  # type: ignore[arg-type]


models = sa.Table(
    "lume_models", metadata,
    _id(),
    sa.Column("name", sa.String(NAME_LENGTH), unique=True, nullable=False),
    sa.Column("author", sa.String(TEXT_LENGTH), nullable=False),
    sa.Column("laboratory", sa.String(TEXT_LENGTH), nullable=False),
    sa.Column("facility", sa.String(TEXT_LENGTH), nullable=False),
    sa.Column("beampath", sa.String(TEXT_LENGTH), nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    **MYSQL_TABLE,
)

tags = sa.Table(
    "lume_model_tags", metadata,
    _reference("model_id", "lume_models", primary_key=True),
    sa.Column("tag", sa.String(NAME_LENGTH), primary_key=True),
    sa.Column("value", sa.String(TEXT_LENGTH), nullable=False),
    sa.Index("ix_lume_model_tags_tag_value", "tag", "value"),
    **MYSQL_TABLE,
)

versions = sa.Table(
    "lume_model_versions", metadata,
    _id(),
    _reference("model_id", "lume_models", nullable=False),
    sa.Column("version", sa.String(MAX_VERSION_LENGTH), nullable=False),
    sa.Column("sort_key", sa.String(SORT_KEY_LENGTH), nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=True),
    sa.Column("image", sa.String(TEXT_LENGTH), nullable=True),
    sa.Column("entrypoint", sa.String(TEXT_LENGTH), nullable=False),
    sa.Column("parameters_schema", JSON_TYPE, nullable=True),
    sa.Column("registered_at", UTCDateTime, nullable=False),
    sa.Column("registered_by", sa.String(NAME_LENGTH), nullable=False),
    # added by revision 0002: filled in once the version is deployed (issue 5)
    sa.Column("deployment_name", sa.String(TEXT_LENGTH), nullable=True),
    sa.Column("deployment_id", sa.String(36), nullable=True),
    sa.Column("deployed_at", UTCDateTime, nullable=True),
    # PEP 440-equal versions (1.0, 1.0.0) are one version; this index also serves "latest"
    sa.UniqueConstraint("model_id", "sort_key"),
    **MYSQL_TABLE,
)

aliases = sa.Table(
    "lume_model_aliases", metadata,
    _reference("model_id", "lume_models", primary_key=True),
    sa.Column("alias", sa.String(ALIAS_LENGTH), primary_key=True),
    _reference("version_id", "lume_model_versions", nullable=False),
    sa.Index("ix_lume_model_aliases_version_id", "version_id"),  # revision 0004
    **MYSQL_TABLE,
)

# One change of an alias; ``reverted_id`` marks a revert and names the change it undid.
alias_history = sa.Table(
    "lume_model_alias_history", metadata,
    _id(),
    _reference("model_id", "lume_models", nullable=False),
    sa.Column("alias", sa.String(ALIAS_LENGTH), nullable=False),
    _reference("from_version_id", "lume_model_versions", nullable=True),
    _reference("to_version_id", "lume_model_versions", nullable=True),
    _reference("reverted_id", "lume_model_alias_history", nullable=True),
    sa.Column("changed_at", UTCDateTime, nullable=False),
    sa.Column("changed_by", sa.String(NAME_LENGTH), nullable=False),
    sa.Index("ix_lume_model_alias_history_model_alias", "model_id", "alias", "id"),
    *(sa.Index(f"ix_lume_model_alias_history_{c}", c) for c in ("from_version_id", "to_version_id", "reverted_id")),
    **MYSQL_TABLE,
)
