"""Create the lume_results table.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql, postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Frozen copies of the column types at this revision (not imported from the live schema).
JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
ID_TYPE = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
# MariaDB/MySQL: binary collation (exact matches, as elsewhere), microseconds, blobs > 64 KiB
MYSQL = ("mysql", "mariadb")
TIME_TYPE = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), *MYSQL)
BLOB_TYPE = sa.LargeBinary().with_variant(mysql.LONGBLOB(), *MYSQL)


def text(length: int) -> sa.types.TypeEngine:
    return sa.String(length).with_variant(mysql.VARCHAR(length, charset="utf8mb4", collation="utf8mb4_bin"), *MYSQL)


def upgrade() -> None:
    op.create_table(
        "lume_results",
        sa.Column("id", ID_TYPE, primary_key=True, autoincrement=True),
        sa.Column("key", text(64), nullable=False),
        sa.Column("model", text(255), nullable=False),
        sa.Column("version", text(255), nullable=False),
        sa.Column("created", TIME_TYPE, nullable=False),
        sa.Column("flow_run_id", text(36), nullable=True),
        sa.Column("tags", JSON_TYPE, nullable=False),
        sa.Column("inputs", JSON_TYPE, nullable=False),
        sa.Column("outputs", JSON_TYPE, nullable=False),
        sa.Column("files", JSON_TYPE, nullable=False),
        sa.Column("blobs", BLOB_TYPE, nullable=True),
        sa.UniqueConstraint("key", name="uq_lume_results_key"),
    )
    op.create_index("ix_lume_results_model_version_created", "lume_results", ["model", "version", "created"])
    op.create_index("ix_lume_results_created", "lume_results", ["created"])


def downgrade() -> None:
    op.drop_index("ix_lume_results_created", table_name="lume_results")
    op.drop_index("ix_lume_results_model_version_created", table_name="lume_results")
    op.drop_table("lume_results")
