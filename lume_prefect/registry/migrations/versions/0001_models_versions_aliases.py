"""Models, tags, versions, aliases and the history of alias changes.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0001"
down_revision: Union[str, Sequence[str], None] = None
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

MYSQL_TABLE = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin", "mysql_engine": "InnoDB"}


def _time() -> sa.types.TypeEngine:
    return sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def upgrade() -> None:
    op.create_table(
        "lume_models",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("author", sa.String(500), nullable=False),
        sa.Column("laboratory", sa.String(500), nullable=False),
        sa.Column("facility", sa.String(500), nullable=False),
        sa.Column("beampath", sa.String(500), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_lume_models"),
        sa.UniqueConstraint("name", name="uq_lume_models_name"),
        **MYSQL_TABLE,
    )
    op.create_table(
        "lume_model_tags",
        sa.Column("model_id", sa.Integer, nullable=False),
        sa.Column("tag", sa.String(100), nullable=False),
        sa.Column("value", sa.String(500), nullable=False),
        sa.PrimaryKeyConstraint("model_id", "tag", name="pk_lume_model_tags"),
        sa.ForeignKeyConstraint(["model_id"], ["lume_models.id"], name="fk_lume_model_tags_model_id", ondelete="CASCADE"),
        **MYSQL_TABLE,
    )
    op.create_index("ix_lume_model_tags_tag_value", "lume_model_tags", ["tag", "value"])
    op.create_table(
        "lume_model_versions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("model_id", sa.Integer, nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("sort_key", sa.String(255), nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=True),
        sa.Column("image", sa.String(500), nullable=True),
        sa.Column("entrypoint", sa.String(500), nullable=False),
        sa.Column("parameters_schema", sa.JSON, nullable=True),
        sa.Column("registered_at", _time(), nullable=False),
        sa.Column("registered_by", sa.String(100), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_lume_model_versions"),
        sa.ForeignKeyConstraint(["model_id"], ["lume_models.id"], name="fk_lume_model_versions_model_id", ondelete="CASCADE"),
        sa.UniqueConstraint("model_id", "sort_key", name="uq_lume_model_versions_model_id_sort_key"),
        **MYSQL_TABLE,
    )
    op.create_table(
        "lume_model_aliases",
        sa.Column("model_id", sa.Integer, nullable=False),
        sa.Column("alias", sa.String(50), nullable=False),
        sa.Column("version_id", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("model_id", "alias", name="pk_lume_model_aliases"),
        sa.ForeignKeyConstraint(["model_id"], ["lume_models.id"], name="fk_lume_model_aliases_model_id", ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["version_id"], ["lume_model_versions.id"], name="fk_lume_model_aliases_version_id", ondelete="CASCADE"
        ),
        **MYSQL_TABLE,
    )
    op.create_table(
        "lume_model_alias_history",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("model_id", sa.Integer, nullable=False),
        sa.Column("alias", sa.String(50), nullable=False),
        sa.Column("from_version_id", sa.Integer, nullable=True),
        sa.Column("to_version_id", sa.Integer, nullable=True),
        sa.Column("reverted_id", sa.Integer, nullable=True),
        sa.Column("changed_at", _time(), nullable=False),
        sa.Column("changed_by", sa.String(100), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_lume_model_alias_history"),
        sa.ForeignKeyConstraint(
            ["model_id"], ["lume_models.id"], name="fk_lume_model_alias_history_model_id", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["from_version_id"], ["lume_model_versions.id"],
            name="fk_lume_model_alias_history_from_version_id", ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["to_version_id"], ["lume_model_versions.id"],
            name="fk_lume_model_alias_history_to_version_id", ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["reverted_id"], ["lume_model_alias_history.id"],
            name="fk_lume_model_alias_history_reverted_id", ondelete="CASCADE",
        ),
        **MYSQL_TABLE,
    )
    op.create_index(
        "ix_lume_model_alias_history_model_alias", "lume_model_alias_history", ["model_id", "alias", "id"]
    )


def downgrade() -> None:
    op.drop_table("lume_model_alias_history")
    op.drop_table("lume_model_aliases")
    op.drop_table("lume_model_versions")
    op.drop_table("lume_model_tags")
    op.drop_table("lume_models")
