"""``warnings``: what was doubtful about a run (an input outside its range that the model's
validation setting let run), a JSON list; NULL when there were none.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")  # frozen copy, as 0001


def upgrade() -> None:
    op.add_column("lume_results", sa.Column("warnings", JSON_TYPE, nullable=True))


def downgrade() -> None:
    op.drop_column("lume_results", "warnings")
