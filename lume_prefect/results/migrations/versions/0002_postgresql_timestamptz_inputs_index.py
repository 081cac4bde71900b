"""PostgreSQL: ``created`` as timestamptz, and a GIN index that serves ``find(inputs=...)``.

``find(inputs={...})`` is a JSONB containment test (``inputs @> ...``); a ``jsonb_path_ops``
GIN index answers it without reading the table. SQLite and MariaDB are unchanged (no zone to
keep; their JSON cannot be indexed this way).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE lume_results ALTER COLUMN created TYPE timestamptz USING created AT TIME ZONE 'UTC'")
    op.execute("CREATE INDEX ix_lume_results_inputs ON lume_results USING gin (inputs jsonb_path_ops)")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX ix_lume_results_inputs")
    op.execute("ALTER TABLE lume_results ALTER COLUMN created TYPE timestamp USING created AT TIME ZONE 'UTC'")
