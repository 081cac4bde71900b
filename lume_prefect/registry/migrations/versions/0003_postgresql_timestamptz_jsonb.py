"""PostgreSQL: times as timestamptz, the parameters schema as jsonb.

Earlier revisions stored naive UTC (``timestamp without time zone``) and ``json`` on every
backend. On PostgreSQL the values are converted in place (UTC kept); SQLite and MariaDB keep
no zone and have no jsonb, so nothing changes there.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

from typing import Sequence, Union

from alembic import op

revision: str = "0003"
down_revision: Union[str, Sequence[str], None] = "0002"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

TIMES = {
    "lume_models": ["created_at"],
    "lume_model_versions": ["registered_at", "deployed_at"],
    "lume_model_alias_history": ["changed_at"],
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, columns in TIMES.items():
        for column in columns:
            op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} TYPE timestamptz USING {column} AT TIME ZONE 'UTC'")
    op.execute("ALTER TABLE lume_model_versions ALTER COLUMN parameters_schema TYPE jsonb USING parameters_schema::jsonb")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE lume_model_versions ALTER COLUMN parameters_schema TYPE json USING parameters_schema::json")
    for table, columns in TIMES.items():
        for column in columns:
            op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} TYPE timestamp USING {column} AT TIME ZONE 'UTC'")
