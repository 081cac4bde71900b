"""SQLResultsStore: results in SQLite or PostgreSQL through SQLAlchemy Core.

One table, ``lume_results``: the key under a unique constraint (so duplicates are refused by
the database, not by a read-then-write race), model/version/created indexed for queries,
inputs/outputs/tags/files as JSON (JSONB on PostgreSQL) and all arrays and DataFrames of a
result packed into one binary column (``.npy`` and Parquet bytes, see ``codec``). The schema
is created and upgraded by the Alembic migrations in ``migrations/`` on first use, with their
own version table so the store can share a database with the model registry.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Iterator, Sequence
from datetime import timezone
from pathlib import Path
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from pydantic import SecretStr
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from lume_prefect.core.retry import retry_methods, retrying
from lume_prefect.files.fileref import FileRef
from lume_prefect.results.codec import TAG, pack_blobs, unpack_blobs
from lume_prefect.results.errors import DuplicateResult, UnsupportedBackend
from lume_prefect.results.result import Result
from lume_prefect.results.store import OnDuplicate, Query, ResultsStore, check_key, prepare_batch

TABLE = "lume_results"
VERSION_TABLE = "lume_results_alembic_version"
MIGRATIONS = Path(__file__).with_name("migrations")
SUPPORTED_DIALECTS = ("sqlite", "postgresql")
# pg_advisory_xact_lock id that serialises concurrent first-use migrations ("lumeres" in ASCII)
MIGRATION_LOCK_ID = 0x6C756D65726573
# Rows per executemany. Small enough that the rows of one slice (and the driver's objects for
# them) are gone before the garbage collector's middle generation promotes them: 5,000-row
# slices pushed enough objects into the oldest generation to trigger a full collection
# (0.4-0.5 s with 100k Results alive) during most 100k-row inserts, 1,000-row slices rarely;
# the extra round trips cost a few milliseconds.
ROWS_PER_EXECUTE = 1_000

JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
metadata = sa.MetaData()
results_table = sa.Table(
    TABLE,
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("key", sa.String(64), nullable=False),
    sa.Column("model", sa.String(255), nullable=False),
    sa.Column("version", sa.String(255), nullable=False),
    sa.Column("created", sa.DateTime(), nullable=False),  # UTC, naive: the same on every backend
    sa.Column("flow_run_id", sa.String(36), nullable=True),
    sa.Column("tags", JSON_TYPE, nullable=False),
    sa.Column("inputs", JSON_TYPE, nullable=False),
    sa.Column("outputs", JSON_TYPE, nullable=False),
    sa.Column("files", JSON_TYPE, nullable=False),
    sa.Column("blobs", sa.LargeBinary(), nullable=True),
    sa.UniqueConstraint("key", name="uq_lume_results_key"),
    sa.Index("ix_lume_results_model_version_created", "model", "version", "created"),
    sa.Index("ix_lume_results_created", "created"),
)
WRITTEN_COLUMNS = [c.name for c in results_table.columns if c.name != "id"]
READ_COLUMNS = [results_table.c[name] for name in WRITTEN_COLUMNS]


def default_sqlite_url() -> str:
    """``sqlite:///`` + ``results.sqlite`` in the user's data directory (created if missing)."""
    from platformdirs import user_data_dir

    return f"sqlite:///{Path(user_data_dir('lume-prefect', appauthor=False)) / 'results.sqlite'}"


class SQLResultsStore(ResultsStore):
    """Results in a SQL database: SQLite (a file, the default) or PostgreSQL.

    Args:
        url: SQLAlchemy URL, e.g. ``postgresql+psycopg://user:pw@host/db`` or
            ``sqlite:////data/results.sqlite``; default: a SQLite file in the user's data
            directory. Kept as a secret: it is never shown in reprs, logs or errors.
        migrate: create or upgrade the schema on first use (Alembic). With False the
            schema must already be at the current revision.

    Examples:
        ```python
        from pydantic import SecretStr
        from lume_prefect.results import SQLResultsStore

        store = SQLResultsStore(SecretStr("postgresql+psycopg://lume@db/lume"))
        store.insert_many(results, on_duplicate="skip")
        frame = store.to_dataframe(model="injector", since="2026-11-01")
        ```
    """

    def __init__(self, url: SecretStr | str | None = None, *, migrate: bool = True):
        if url is None:
            url = default_sqlite_url()
        self._url = url if isinstance(url, SecretStr) else SecretStr(url)
        parsed = sa.make_url(self._url.get_secret_value())
        if parsed.get_backend_name() not in SUPPORTED_DIALECTS:
            raise UnsupportedBackend(
                f"url: the SQL results store supports {' and '.join(SUPPORTED_DIALECTS)}, "
                f"got {parsed.get_backend_name()!r} ({parsed.render_as_string(hide_password=True)})"
            )
        self._safe_url = parsed.render_as_string(hide_password=True)
        self._migrate = migrate
        self._engine: sa.Engine | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SQLResultsStore({self._safe_url})"

    # ---- connection and schema ---------------------------------------------------

    @property
    def engine(self) -> sa.Engine:
        """The SQLAlchemy engine, created (and the schema migrated) on first use."""
        if self._engine is None:
            with self._lock:
                if self._engine is None:
                    engine = _create_engine(self._url.get_secret_value())
                    if self._migrate:
                        migrate(engine)
                    self._engine = engine
        return self._engine

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    # ---- writing -----------------------------------------------------------------

    def insert_many(self, results: Sequence[Result], on_duplicate: OnDuplicate = "error") -> list[str]:
        batch, keys = prepare_batch(results, on_duplicate)
        if not batch:
            return keys
        statement = self._insert_statement(on_duplicate)
        try:
            with self.engine.begin() as connection:  # one transaction: all rows or none
                # executemany in slices: rows are built just before they are sent, so a large
                # batch never holds every row dict at once (memory, and GC time, stay flat)
                for start in range(0, len(batch), ROWS_PER_EXECUTE):
                    connection.execute(statement, [_row(r) for r in batch[start : start + ROWS_PER_EXECUTE]])
        except IntegrityError:
            if on_duplicate != "error":
                raise
            stored = self._stored_keys([r.key for r in batch])
            if not stored:
                raise
            if retrying() and len(stored) == len(batch):
                return keys  # the whole batch is there: our commit landed before the connection dropped
            first = next(r for r in batch if r.key == stored[0])
            raise DuplicateResult(stored[0], first.model, stored[1:]) from None
        return keys

    def _insert_statement(self, on_duplicate: OnDuplicate) -> Any:
        if on_duplicate == "error":
            return results_table.insert()
        insert = (sqlite if self.dialect == "sqlite" else postgresql).insert(results_table)
        if on_duplicate == "skip":
            return insert.on_conflict_do_nothing(index_elements=["key"])
        return insert.on_conflict_do_update(
            index_elements=["key"], set_={name: insert.excluded[name] for name in WRITTEN_COLUMNS if name != "key"}
        )

    def _stored_keys(self, keys: list[str]) -> list[str]:
        found: set[str] = set()
        with self.engine.connect() as connection:
            for start in range(0, len(keys), 500):
                chunk = keys[start : start + 500]
                found.update(connection.scalars(sa.select(results_table.c.key).where(results_table.c.key.in_(chunk))))
        return [k for k in keys if k in found]

    def delete(self, key: str) -> bool:
        check_key(key)
        with self.engine.begin() as connection:
            return connection.execute(sa.delete(results_table).where(results_table.c.key == key)).rowcount > 0

    # ---- reading -----------------------------------------------------------------

    def get(self, key: str) -> Result | None:
        check_key(key)
        with self.engine.connect() as connection:
            row = connection.execute(sa.select(*READ_COLUMNS).where(results_table.c.key == key)).first()
        return None if row is None else _result(row)

    def _find(self, query: Query) -> list[Result]:
        order = (sa.desc, sa.desc) if query.newest_first else (sa.asc, sa.asc)
        statement = (
            sa.select(*READ_COLUMNS)
            .where(*self._conditions(query))
            .order_by(order[0](results_table.c.created), order[1](results_table.c.id))
        )
        if query.limit is not None:
            statement = statement.limit(query.limit)
        with self.engine.connect() as connection:
            return [_result(row) for row in connection.execute(statement)]

    def _count(self, query: Query) -> int:
        statement = sa.select(sa.func.count()).select_from(results_table).where(*self._conditions(query))
        with self.engine.connect() as connection:
            return connection.scalar(statement) or 0

    def _conditions(self, query: Query) -> list[Any]:
        c = results_table.c
        conditions: list[Any] = []
        if query.model is not None:
            conditions.append(c.model == query.model)
        if query.version is not None:
            conditions.append(c.version == query.version)
        if query.since is not None:
            conditions.append(c.created >= _naive_utc(query.since))
        if query.until is not None:
            conditions.append(c.created < _naive_utc(query.until))
        json_filters = _PostgresJSON if self.dialect == "postgresql" else _SQLiteJSON
        for path, value in query.inputs:
            conditions.append(json_filters.input_equals(c.inputs, path, value))
        if query.tags:
            conditions.append(json_filters.has_tags(c.tags, query.tags))
        return conditions


# ---- rows <-> results ---------------------------------------------------------------


def _naive_utc(moment: Any) -> Any:
    return moment.astimezone(timezone.utc).replace(tzinfo=None)


def _row(result: Result) -> dict[str, Any]:
    # runs for every row written: the fields and the stored form (encoded once, when the
    # Result was made) straight from the instance, without per-row work for absent values
    fields = result.__dict__
    key, (inputs, outputs, blobs) = result.key, result.__pydantic_private__["_stored"]
    flow_run_id, files = fields["flow_run_id"], fields["files"]
    return {
        "key": key,
        "model": fields["model"],
        "version": fields["version"],
        "created": fields["created"].replace(tzinfo=None),  # a Result's created is always UTC
        "flow_run_id": str(flow_run_id) if flow_run_id else None,
        "tags": fields["tags"],
        "inputs": inputs,
        "outputs": outputs,
        "files": [ref.model_dump(mode="json") for ref in files] if files else [],
        "blobs": pack_blobs(blobs) if blobs else None,
    }


def _result(row: Any) -> Result:
    return Result.restore(
        key=row.key,
        inputs_tree=row.inputs,
        outputs_tree=row.outputs,
        blobs=unpack_blobs(row.blobs),
        model=row.model,
        version=row.version,
        created=row.created.replace(tzinfo=timezone.utc),
        flow_run_id=UUID(row.flow_run_id) if row.flow_run_id else None,
        tags=list(row.tags),
        files=[FileRef.model_validate(ref) for ref in row.files],
    )


# ---- JSON filters per dialect -----------------------------------------------------------


def _scalar_path(path: tuple[str, ...]) -> tuple[str, ...]:
    return (*path, "value")  # where a tagged NumPy scalar keeps its number


class _SQLiteJSON:
    """json_type/json_extract: type-exact matches (a str "1" never matches the number 1)."""

    @staticmethod
    def _path(path: tuple[str, ...]) -> str:
        return "$" + "".join(f'."{part}"' for part in path)

    @classmethod
    def _plain(cls, column: Any, path: tuple[str, ...], value: Any) -> Any:
        where = cls._path(path)
        if value is None:
            return sa.func.json_extract(column, where).is_(None)
        if isinstance(value, bool):
            return sa.func.json_type(column, where) == ("true" if value else "false")
        if isinstance(value, str):
            return sa.and_(sa.func.json_type(column, where) == "text", sa.func.json_extract(column, where) == value)
        return sa.and_(sa.func.json_type(column, where).in_(["integer", "real"]), sa.func.json_extract(column, where) == value)

    @classmethod
    def input_equals(cls, column: Any, path: tuple[str, ...], value: Any) -> Any:
        plain = cls._plain(column, path, value)
        if value is None or isinstance(value, str):
            return plain
        tagged = sa.and_(
            sa.func.json_extract(column, cls._path((*path, TAG))) == "scalar",
            cls._plain(column, _scalar_path(path), value),
        )
        return sa.or_(plain, tagged)

    @staticmethod
    def has_tags(column: Any, tags: tuple[str, ...]) -> Any:
        conditions = []
        for tag in tags:
            each = sa.func.json_each(column).table_valued("value")
            conditions.append(sa.exists(sa.select(sa.literal(1)).select_from(each).where(each.c.value == tag)))
        return sa.and_(*conditions)


class _PostgresJSON:
    """JSONB operators: ``#>`` to reach an input, ``=`` (numbers by value), ``@>`` for tags."""

    @staticmethod
    def _at(column: Any, path: tuple[str, ...]) -> Any:
        return sa.type_coerce(column, postgresql.JSONB)[path]

    @staticmethod
    def _jsonb(value: Any) -> Any:
        return sa.cast(sa.literal(json.dumps(value), sa.Text), postgresql.JSONB)

    @classmethod
    def input_equals(cls, column: Any, path: tuple[str, ...], value: Any) -> Any:
        at = cls._at(column, path)
        if value is None:
            return sa.or_(at.is_(None), at == cls._jsonb(None))
        plain = at == cls._jsonb(value)
        if isinstance(value, str):
            return plain
        tagged = sa.and_(
            cls._at(column, (*path, TAG)) == cls._jsonb("scalar"), cls._at(column, _scalar_path(path)) == cls._jsonb(value)
        )
        return sa.or_(plain, tagged)

    @classmethod
    def has_tags(cls, column: Any, tags: tuple[str, ...]) -> Any:
        return sa.type_coerce(column, postgresql.JSONB).op("@>")(cls._jsonb(list(tags)))


# ---- engine and migrations ------------------------------------------------------------


def _create_engine(url: str) -> sa.Engine:
    parsed = sa.make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return sa.create_engine(parsed, pool_pre_ping=True)
    database = parsed.database or ""
    if database in ("", ":memory:"):
        return sa.create_engine(parsed, poolclass=sa.StaticPool, connect_args={"check_same_thread": False})
    os.makedirs(os.path.dirname(os.path.abspath(database)), exist_ok=True)
    # writers wait for each other (up to 60 s) instead of failing with "database is locked"
    engine = sa.create_engine(parsed, connect_args={"timeout": 60})

    @sa.event.listens_for(engine, "connect")
    def _wal(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA journal_mode=WAL")  # readers never block the writer

    return engine


_head_revision: str | None = None


def head_revision() -> str:
    """The newest revision shipped in ``migrations/versions``."""
    global _head_revision
    if _head_revision is None:
        from alembic.script import ScriptDirectory

        _head_revision = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    return _head_revision


def current_revision(engine: sa.Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE}).get_current_revision()


def migrate(engine: sa.Engine, revision: str = "head") -> None:
    """Bring the results schema to ``revision``; concurrent first uses are serialised
    (PostgreSQL: an advisory lock; a SQLite file: an exclusive lock on a file beside it)."""
    if revision == "head" and current_revision(engine) == head_revision():
        return
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with _sqlite_file_lock(engine):
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(sa.select(sa.func.pg_advisory_xact_lock(MIGRATION_LOCK_ID)))
            config.attributes["connection"] = connection
            command.upgrade(config, revision)  # a no-op when another process got there first


@contextlib.contextmanager
def _sqlite_file_lock(engine: sa.Engine) -> Iterator[None]:
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:":
        yield
        return
    import fcntl

    with open(f"{os.path.abspath(database)}.migrate-lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file is closed
        yield


# A short outage (a server restart) is retried, never seen by the caller: writes are
# idempotent because the key is unique (see core/retry.py).
retry_methods(SQLResultsStore, ("insert_many", "delete", "get", "_find", "_count"))
