"""The Prefect deployment of a version: its name, id and when it was deployed.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0002"
down_revision: Union[str, Sequence[str], None] = "0001"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table("lume_model_versions") as batch:
        batch.add_column(sa.Column("deployment_name", sa.String(500), nullable=True))
        batch.add_column(sa.Column("deployment_id", sa.String(36), nullable=True))
        batch.add_column(
            sa.Column("deployed_at", sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb"), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("lume_model_versions") as batch:
        batch.drop_column("deployed_at")
        batch.drop_column("deployment_id")
        batch.drop_column("deployment_name")
