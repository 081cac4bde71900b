"""Indexes on the foreign keys that had none: the alias history's versions and reverted
change, and the version an alias points at. Deleting a version (its rows cascade) and
reading a version's history no longer scan these tables. (MariaDB and MySQL had made an
index of their own for each foreign key; the named one takes its place, so a downgrade
leaves it there: the foreign key needs it.)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07
"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: Union[str, Sequence[str], None] = "0003"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

INDEXES = [
    ("ix_lume_model_alias_history_from_version_id", "lume_model_alias_history", "from_version_id"),
    ("ix_lume_model_alias_history_to_version_id", "lume_model_alias_history", "to_version_id"),
    ("ix_lume_model_alias_history_reverted_id", "lume_model_alias_history", "reverted_id"),
    ("ix_lume_model_aliases_version_id", "lume_model_aliases", "version_id"),
]


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    for name, table, column in INDEXES:
        if name not in {index["name"] for index in inspector.get_indexes(table)}:  # left by a MariaDB downgrade
            op.create_index(name, table, [column])


def downgrade() -> None:
    if op.get_bind().dialect.name in ("mysql", "mariadb"):
        return
    for name, table, _column in reversed(INDEXES):
        op.drop_index(name, table_name=table)
