"""Column types shared by the SQL stores (registry, results).

Times are UTC everywhere: ``timestamp with time zone`` on PostgreSQL, where a zone is kept
(so ``psql`` users see unambiguous instants); naive UTC with microseconds on SQLite and
MariaDB, which keep no zone. Python always sees aware UTC datetimes.
JSON documents are ``jsonb`` on PostgreSQL (indexable, compared by value), JSON elsewhere.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Optional

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql

JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


class UTCDateTime(sa.TypeDecorator[datetime]):
    """A UTC instant: timestamptz on PostgreSQL, naive UTC (microseconds) elsewhere; read aware.

    ``naive_is_utc=False`` refuses naive datetimes (they are usually a bug); the results store
    passes True because a Result's ``created`` is UTC by construction.
    """

    impl = sa.DateTime
    cache_ok = True

    def __init__(self, naive_is_utc: bool = False):
        super().__init__()
        self.naive_is_utc = naive_is_utc

    def load_dialect_impl(self, dialect: sa.Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name in ("mysql", "mariadb"):
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.TIMESTAMP(timezone=True))
        return dialect.type_descriptor(sa.DateTime())

    def process_bind_param(self, value: Optional[datetime], dialect: sa.Dialect) -> Optional[datetime]:
        if value is None:
            return None
        if value.tzinfo is None:
            if not self.naive_is_utc:
                raise ValueError(f"naive datetime {value!r}: stored times must be timezone-aware")
            value = value.replace(tzinfo=timezone.utc)
        value = value.astimezone(timezone.utc)
        return value if dialect.name == "postgresql" else value.replace(tzinfo=None)

    def process_result_value(self, value: Optional[datetime], dialect: sa.Dialect) -> Optional[datetime]:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
