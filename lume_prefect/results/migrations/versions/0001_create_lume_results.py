"""Create the lume_results table.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Frozen copies of the column types at this revision (not imported from the live schema).
JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
ID_TYPE = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "lume_results",
        sa.Column("id", ID_TYPE, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("model", sa.String(255), nullable=False),
        sa.Column("version", sa.String(255), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("flow_run_id", sa.String(36), nullable=True),
        sa.Column("tags", JSON_TYPE, nullable=False),
        sa.Column("inputs", JSON_TYPE, nullable=False),
        sa.Column("outputs", JSON_TYPE, nullable=False),
        sa.Column("files", JSON_TYPE, nullable=False),
        sa.Column("blobs", sa.LargeBinary(), nullable=True),
        sa.UniqueConstraint("key", name="uq_lume_results_key"),
    )
    op.create_index("ix_lume_results_model_version_created", "lume_results", ["model", "version", "created"])
    op.create_index("ix_lume_results_created", "lume_results", ["created"])


def downgrade() -> None:
    op.drop_index("ix_lume_results_created", table_name="lume_results")
    op.drop_index("ix_lume_results_model_version_created", table_name="lume_results")
    op.drop_table("lume_results")
