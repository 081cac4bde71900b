"""Indexes for a flow run's results (every backend) and for ``find(tags=...)`` (PostgreSQL).

``flow_run_id`` gets a b-tree index everywhere. On PostgreSQL ``find(tags=[...])`` is a JSONB
containment test (``tags @> '["a"]'``), which a ``jsonb_path_ops`` GIN index answers; SQLite
and MariaDB test membership of a JSON array, which no index of theirs serves.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_lume_results_flow_run_id", "lume_results", ["flow_run_id"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE INDEX ix_lume_results_tags ON lume_results USING gin (tags jsonb_path_ops)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX ix_lume_results_tags")
    op.drop_index("ix_lume_results_flow_run_id", table_name="lume_results")
