"""SQLResultsStore: results in SQLite, PostgreSQL or MariaDB/MySQL through SQLAlchemy Core.

One table, ``lume_results``: the key under a unique constraint (so duplicates are refused by
the database, not by a read-then-write race), model/version/created indexed for queries,
inputs/outputs/tags/files as JSON (JSONB on PostgreSQL) and all arrays and DataFrames of a
result packed into one binary column (``.npy`` and Parquet bytes, see ``codec``). The schema
is created and upgraded by the Alembic migrations in ``migrations/`` on first use, with their
own version table so the store can share a database with the model registry. Engines and
migrations are the SQL foundation's (``lume_prefect.core.sql``), shared with the registry.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from pydantic import SecretStr
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from lume_prefect.core.jsonfloats import tagged_texts
from lume_prefect.core.paths import sqlite_url
from lume_prefect.core.retry import retry_methods, retrying
from lume_prefect.core.sql import MYSQL_DIALECTS, Migrations, SQLEngine, sql_engine
from lume_prefect.core.sqltypes import JSON_TYPE, UTCDateTime
from lume_prefect.files.fileref import FileRef
from lume_prefect.results.codec import TAG, pack_blobs, unpack_blobs
from lume_prefect.results.errors import DuplicateResult, UnsupportedBackend
from lume_prefect.results.result import Result
from lume_prefect.results.store import OnDuplicate, Query, ResultsStore, check_key, check_keys, collector_paused, prepare_batch

TABLE = "lume_results"
VERSION_TABLE = "lume_results_alembic_version"
MIGRATIONS = Migrations("lume_prefect.results:migrations", VERSION_TABLE)
SUPPORTED_DIALECTS = ("sqlite", "postgresql", "mysql", "mariadb")
# Rows per executemany. Small enough that the rows of one slice (and the driver's objects for
# them) are gone before the garbage collector's middle generation promotes them: 5,000-row
# slices pushed enough objects into the oldest generation to trigger a full collection
# (0.4-0.5 s with 100k Results alive) during most 100k-row inserts, 1,000-row slices rarely;
# the extra round trips cost a few milliseconds.
ROWS_PER_EXECUTE = 1_000

# MariaDB/MySQL: exact (binary) string comparison as on the other backends, microseconds in
# times, and blobs beyond BLOB's 64 KiB.
_MYSQL = ("mysql", "mariadb")


def _text(length: int) -> Any:
    return sa.String(length).with_variant(mysql.VARCHAR(length, charset="utf8mb4", collation="utf8mb4_bin"), *_MYSQL)


BLOB_TYPE = sa.LargeBinary().with_variant(mysql.LONGBLOB(), *_MYSQL)
metadata = sa.MetaData()
results_table = sa.Table(
    TABLE,
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("key", _text(64), nullable=False),
    sa.Column("model", _text(255), nullable=False),
    sa.Column("version", _text(255), nullable=False),
    sa.Column("created", UTCDateTime(naive_is_utc=True), nullable=False),  # timestamptz on PostgreSQL, naive UTC elsewhere
    sa.Column("flow_run_id", _text(36), nullable=True),
    sa.Column("tags", JSON_TYPE, nullable=False),
    sa.Column("inputs", JSON_TYPE, nullable=False),
    sa.Column("outputs", JSON_TYPE, nullable=False),
    sa.Column("files", JSON_TYPE, nullable=False),
    sa.Column("blobs", BLOB_TYPE, nullable=True),
    sa.Column("warnings", JSON_TYPE, nullable=True),  # NULL: none
    sa.UniqueConstraint("key", name="uq_lume_results_key"),
    sa.Index("ix_lume_results_model_version_created", "model", "version", "created"),
    sa.Index("ix_lume_results_created", "created"),
    # PostgreSQL only (revision 0002): serves find(inputs=...) as JSONB containment
    sa.Index("ix_lume_results_inputs", "inputs", postgresql_using="gin", postgresql_ops={"inputs": "jsonb_path_ops"}).ddl_if(dialect="postgresql"),
    # revision 0004: a flow run's results; on PostgreSQL find(tags=...) as JSONB containment
    sa.Index("ix_lume_results_flow_run_id", "flow_run_id"),
    sa.Index("ix_lume_results_tags", "tags", postgresql_using="gin", postgresql_ops={"tags": "jsonb_path_ops"}).ddl_if(dialect="postgresql"),
)
WRITTEN_COLUMNS = [c.name for c in results_table.columns if c.name != "id"]
READ_COLUMNS = [results_table.c[name] for name in WRITTEN_COLUMNS]
_BY_KEY = sa.select(*READ_COLUMNS).where(results_table.c.key == sa.bindparam("key"))
# SQLite: any number of keys as one JSON array parameter, each looked up in the unique index
_BY_KEY_LIST = sa.select(*READ_COLUMNS).where(
    results_table.c.key.in_(sa.select(sa.func.json_each(sa.bindparam("keys")).table_valued("value").c.value))
)
# a range on the unique key index (LIKE 'prefix%' uses no index under SQLite's default collation)
_KEYS_BETWEEN = (
    sa.select(results_table.c.key)
    .where(results_table.c.key >= sa.bindparam("low"), results_table.c.key < sa.bindparam("high"))
    .order_by(results_table.c.key)
)


def default_sqlite_url() -> str:
    """``sqlite:///<data dir>/results.db``: the ``local`` services' results (see ``core.paths``)."""
    return sqlite_url("results.db")


class SQLResultsStore(ResultsStore):
    """Results in a SQL database: SQLite (a file, the default), PostgreSQL or MariaDB/MySQL.

    Args:
        url: SQLAlchemy URL, e.g. ``postgresql+psycopg://user:pw@host/db``,
            ``mysql+pymysql://user:pw@host/db`` or ``sqlite:////data/results.db``; default:
            ``results.db`` in the lume-prefect data directory (``$LUME_PREFECT_HOME``), where
            the ``local`` services keep their results. Kept as a secret: it is never shown in
            reprs, logs or errors.
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
                f"url: the SQL results store supports {', '.join(SUPPORTED_DIALECTS)}, "
                f"got {parsed.get_backend_name()!r} ({parsed.render_as_string(hide_password=True)})"
            )
        self._safe_url = parsed.render_as_string(hide_password=True)
        self._migrate = migrate
        self._sql: SQLEngine | None = None

    def __repr__(self) -> str:
        return f"SQLResultsStore({self._safe_url})"

    # ---- connection and schema ---------------------------------------------------

    @property
    def sql(self) -> SQLEngine:
        """The process-wide engines for this URL, the schema migrated on first use."""
        sql = self._sql
        if sql is None:
            sql = self._sql = sql_engine(self._url.get_secret_value())
        if VERSION_TABLE not in sql.checked and self._migrate:
            sql.ensure(MIGRATIONS, lambda e: migrate(e.writer))
        return sql

    @property
    def engine(self) -> sa.Engine:
        """The SQLAlchemy engine (the schema migrated on first use)."""
        return self.sql.engine

    @property
    def dialect(self) -> str:
        return self.sql.dialect

    def close(self) -> None:
        """Close pooled connections (the engine is shared per URL; it reconnects on next use)."""
        if self._sql is not None:
            self._sql.dispose()

    # ---- writing -----------------------------------------------------------------

    def insert_many(self, results: Sequence[Result], on_duplicate: OnDuplicate = "error") -> list[str]:
        batch, keys = prepare_batch(results, on_duplicate)
        if not batch:
            return keys
        statement = self._insert_statement(on_duplicate)
        try:
            with self.sql.writer.begin() as connection:  # one transaction: all rows or none
                if self.dialect == "sqlite":
                    _DriverRows.of(statement, connection.dialect).insert(connection, batch)
                    return keys
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
        if self.dialect in MYSQL_DIALECTS:
            insert = mysql.insert(results_table)
            if on_duplicate == "skip":  # a no-op update (INSERT IGNORE would also hide other errors)
                return insert.on_duplicate_key_update(key=insert.inserted.key)
            return insert.on_duplicate_key_update({name: insert.inserted[name] for name in WRITTEN_COLUMNS if name != "key"})
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
        with self.sql.writer.begin() as connection:
            return connection.execute(sa.delete(results_table).where(results_table.c.key == key)).rowcount > 0

    # ---- reading -----------------------------------------------------------------

    def get(self, key: str) -> Result | None:
        check_key(key)
        with self.sql.reader.connect() as connection:
            row = connection.execute(_BY_KEY, {"key": key}).first()
        return None if row is None else _result(row)

    def get_many(self, keys: Iterable[str]) -> dict[str, Result]:
        """See ``ResultsStore.get_many``; on SQLite one query whatever the number of keys (a
        JSON array parameter: no statement of thousands of parameters to build and parse)."""
        if self.dialect != "sqlite":
            return super().get_many(keys)
        wanted = list(dict.fromkeys(keys))
        if not wanted:
            return {}
        check_keys(wanted)
        with collector_paused():
            return {result.key: result for result in self._by_keys(json.dumps(wanted))}

    def _by_keys(self, keys_json: str) -> list[Result]:
        with self.sql.reader.connect() as connection:
            return [_result(row) for row in connection.execute(_BY_KEY_LIST, {"keys": keys_json})]

    def _keys_between(self, low: str, high: str, limit: int) -> list[str]:
        with self.sql.reader.connect() as connection:
            return list(connection.scalars(_KEYS_BETWEEN.limit(limit), {"low": low, "high": high}))

    def _find(self, query: Query) -> list[Result]:
        order = (sa.desc, sa.desc) if query.newest_first else (sa.asc, sa.asc)
        statement = (
            sa.select(*READ_COLUMNS)
            .where(*self._conditions(query))
            .order_by(order[0](results_table.c.created), order[1](results_table.c.id))
        )
        if query.limit is not None:
            statement = statement.limit(query.limit)
        with self.sql.reader.connect() as connection:
            return [_result(row) for row in connection.execute(statement)]

    def _count(self, query: Query) -> int:
        statement = sa.select(sa.func.count()).select_from(results_table).where(*self._conditions(query))
        with self.sql.reader.connect() as connection:
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
        json_filters = _JSON_FILTERS[self.dialect]
        for path, value in query.inputs:
            conditions.append(json_filters.input_equals(c.inputs, path, value))
        if query.tags:
            conditions.append(json_filters.has_tags(c.tags, query.tags))
        if query.keys:
            conditions.append(c.key.in_(query.keys))  # the unique index on key answers it
        return conditions


# ---- rows <-> results ---------------------------------------------------------------


def _naive_utc(moment: Any) -> Any:
    return moment.astimezone(timezone.utc).replace(tzinfo=None)


def _row(result: Result) -> dict[str, Any]:
    # runs for every row written: the fields and the stored form (encoded once, when the
    # Result was made) straight from the instance, without per-row work for absent values
    fields = result.__dict__
    key, (inputs, outputs, blobs) = result.key, result.__pydantic_private__["_stored"]
    return {
        "key": key,
        "model": fields["model"],
        "version": fields["version"],
        "created": _plain_created(fields["created"]),
        "flow_run_id": _plain_flow_run_id(fields["flow_run_id"]),
        "tags": fields["tags"],
        "inputs": inputs,
        "outputs": outputs,
        "files": _plain_files(fields["files"]),
        "blobs": pack_blobs(blobs) if blobs else None,
        "warnings": _plain_warnings(fields.get("warnings")),
    }


# A Result field as the database column takes it: one rule for the per-row insert (``_row``)
# and the column-wise one (``_bound``)
def _plain_created(value: datetime) -> datetime:
    return value.replace(tzinfo=None)  # a Result's created is always UTC


def _plain_flow_run_id(value: Any) -> str | None:
    return str(value) if value else None


def _plain_files(value: Any) -> list[Any]:
    return [ref.model_dump(mode="json") for ref in value] if value else []


def _plain_warnings(value: Any) -> Any:
    return value or None


_PLAIN = {"created": _plain_created, "flow_run_id": _plain_flow_run_id, "files": _plain_files, "warnings": _plain_warnings}


class _DriverRows:
    """An insert of Results as the driver's own executemany (SQLite): the statement compiled
    once, each column's bind processing (JSON, the UTC time) SQLAlchemy's own, but a value
    shared by the rows (a batch's model, version, time, tags, flow run, no files) processed
    once and not once per row, and no per-row parameter dicts for SQLAlchemy to walk. What
    a 10,000-point scan's insert costs is then near the driver's executemany alone.

    The rows are built column by column (one list per column, zipped into tuples): a loop per
    column does one thing, where a loop per row looked up and dispatched every column. The
    inputs and outputs JSON is ``json.dumps`` exactly (the same C encoder with the same
    options, made once per slice instead of once per value), so the stored text is the same
    bytes as SQLAlchemy's own JSON processing writes (pinned by a test)."""

    _made: dict[tuple[int, str], _DriverRows] = {}

    @classmethod
    def of(cls, statement: Any, dialect: Any) -> _DriverRows:
        key = (id(statement), dialect.name)
        made = cls._made.get(key)
        if made is None or made.statement is not statement:
            made = cls._made[key] = cls(statement, dialect)
        return made

    def __init__(self, statement: Any, dialect: Any):
        compiled = statement.compile(dialect=dialect, column_keys=list(WRITTEN_COLUMNS))
        self.statement, self.sql = statement, str(compiled)
        self.names = list(compiled.positiontup)
        self.process = {name: results_table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in self.names}
        # JSON as json.dumps writes it, when that is what the dialect's processor would call
        self.plain_json = dialect._json_serializer is None and not _string_processed(dialect)

    def insert(self, connection: Any, batch: Sequence[Result]) -> None:
        for start in range(0, len(batch), ROWS_PER_EXECUTE):
            connection.exec_driver_sql(self.sql, self._rows(batch[start : start + ROWS_PER_EXECUTE]))

    def _rows(self, batch: Sequence[Result]) -> list[tuple[Any, ...]]:
        if not batch:
            return []
        process = self.process
        privates = [result.__pydantic_private__ for result in batch]
        stored = [private["_stored"] for private in privates]
        dumps = _json_dumps() if self.plain_json else None
        columns: dict[str, list[Any]] = {"key": [private["_key"] for private in privates]}
        for name, at in (("inputs", 0), ("outputs", 1)):
            trees = [s[at] for s in stored]
            bind = process[name]
            # a tree is always a dict (encode_values), which the JSON processor serializes as given
            columns[name] = [dumps(tree) for tree in trees] if dumps else [bind(tree) for tree in trees] if bind else trees
        bind_blobs = process["blobs"]
        columns["blobs"] = [(bind_blobs(pack_blobs(s[2])) if bind_blobs else pack_blobs(s[2])) if s[2] else None for s in stored]
        fields = [result.__dict__ for result in batch]
        for name in self.names:
            if name not in columns:
                columns[name] = _shared_column(name, [f[name] for f in fields], process.get(name))
        return list(zip(*(columns[name] for name in self.names)))


def _string_processed(dialect: Any) -> bool:
    """Whether the dialect's JSON processing converts the serialized text again (not SQLite's)."""
    return sa.String().bind_processor(dialect) is not None


def _json_dumps() -> Any:
    """``json.dumps`` with its default options, the C encoder made once for many values: what
    ``json.dumps(value)`` does (``JSONEncoder.encode`` -> ``iterencode(_one_shot=True)``)
    without making a new encoder per call. A fresh one per batch: its circular-reference
    markers start empty."""
    import json.encoder as encoder

    make = encoder.c_make_encoder
    if make is None:  # no C accelerator in this Python: json.dumps itself
        return json.dumps
    default = json.JSONEncoder()
    iterencode = make({}, default.default, encoder.encode_basestring_ascii, default.indent, default.key_separator,
                      default.item_separator, default.sort_keys, default.skipkeys, default.allow_nan)
    join = "".join
    return lambda value: join(iterencode(value, 0))


_MISSING = object()


def _shared_column(name: str, values: list[Any], process: Any) -> list[Any]:
    """A column of the Results' fields as bound: each distinct object (the batch's time, tags
    list, flow run) converted and processed once, an empty files or warnings list once."""
    first = values[0]
    if all(value is first for value in values):  # one object for the whole batch (a scan's model, time, tags)
        return [_bound(name, first, process)] * len(values)
    column: list[Any] = []
    append = column.append
    last, bound, empty = _MISSING, None, _MISSING
    for value in values:
        if value is last:
            append(bound)
        elif type(value) is list and not value:  # a point's own empty files / warnings list
            if empty is _MISSING:
                empty = _bound(name, value, process)
            append(empty)
        else:
            last, bound = value, _bound(name, value, process)
            append(bound)
    return column


def _bound(name: str, value: Any, process: Any) -> Any:
    """One field's value as the driver gets it (what ``_row`` gives SQLAlchemy, then processed)."""
    plain = _PLAIN[name](value) if name in _PLAIN else value
    return process(plain) if process else plain


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
        warnings=list(row.warnings or []),
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
        tagged = sa.and_(cls._tag(column, path) == "scalar", cls._plain(column, _scalar_path(path), value))
        # an equal float stored tagged (1e16 and up, -0.0), alone or as a NumPy scalar's value
        floats = [
            sa.and_(cls._tag(column, path).in_(("float", "scalar")), cls._plain(column, _scalar_path(path), text))
            for text in tagged_texts(value)
        ]
        return sa.or_(plain, tagged, *floats)

    @classmethod
    def _tag(cls, column: Any, path: tuple[str, ...]) -> Any:
        return sa.func.json_extract(column, cls._path((*path, TAG)))

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
    def _contains(cls, column: Any, path: tuple[str, ...], value: Any) -> Any:
        for name in reversed(path):
            value = {name: value}
        return sa.type_coerce(column, postgresql.JSONB).op("@>")(cls._jsonb(value))

    @classmethod
    def input_equals(cls, column: Any, path: tuple[str, ...], value: Any) -> Any:
        # Containment (@>) is what the GIN index on inputs serves; for a scalar it is equality
        # (numbers by value), for an array or object only a prefilter of the exact comparison.
        at = cls._at(column, path)
        if value is None:
            return sa.or_(at.is_(None), at == cls._jsonb(None))
        plain = cls._contains(column, path, value)
        if isinstance(value, (list, dict)):
            return sa.and_(plain, at == cls._jsonb(value))
        if isinstance(value, str):
            return plain
        tagged = [cls._contains(column, path, {TAG: "scalar", "value": value})]
        for text in tagged_texts(value):  # an equal float stored tagged (1e16 and up, -0.0)
            tagged += [cls._contains(column, path, {TAG: kind, "value": text}) for kind in ("float", "scalar")]
        return sa.or_(plain, *tagged)

    @classmethod
    def has_tags(cls, column: Any, tags: tuple[str, ...]) -> Any:
        return sa.type_coerce(column, postgresql.JSONB).op("@>")(cls._jsonb(list(tags)))


class _MySQLJSON(_SQLiteJSON):
    """JSON_TYPE/JSON_EXTRACT (MariaDB and MySQL): type-exact matches, JSON_CONTAINS for tags."""

    _NUMBERS = ("INTEGER", "DOUBLE", "DECIMAL", "UNSIGNED INTEGER")

    @classmethod
    def _plain(cls, column: Any, path: tuple[str, ...], value: Any) -> Any:
        at = sa.func.json_extract(column, cls._path(path))
        kind = sa.func.json_type(at)
        if value is None:  # absent (SQL NULL) or a JSON null
            return sa.or_(at.is_(None), kind == "NULL")
        if isinstance(value, bool):
            return sa.and_(kind == "BOOLEAN", at == ("true" if value else "false"))
        if isinstance(value, str):
            return sa.and_(kind == "STRING", sa.func.json_unquote(at) == value)
        return sa.and_(kind.in_(cls._NUMBERS), at == value)

    @classmethod
    def _tag(cls, column: Any, path: tuple[str, ...]) -> Any:
        return sa.func.json_unquote(sa.func.json_extract(column, cls._path((*path, TAG))))

    @classmethod
    def has_tags(cls, column: Any, tags: tuple[str, ...]) -> Any:
        return sa.func.json_contains(column, json.dumps(list(tags))) == 1


_JSON_FILTERS: dict[str, Any] = {"sqlite": _SQLiteJSON, "postgresql": _PostgresJSON, "mysql": _MySQLJSON, "mariadb": _MySQLJSON}


# ---- migrations ------------------------------------------------------------------------


def head_revision() -> str:
    """The newest revision shipped in ``migrations/versions``."""
    return MIGRATIONS.head()


def current_revision(engine: sa.Engine) -> str | None:
    with engine.connect() as connection:
        return MIGRATIONS.current(connection)


def migrate(engine: sa.Engine, revision: str = "head") -> None:
    """Bring the results schema to ``revision``; processes doing it at once queue on the
    migration lock (see ``lume_prefect.core.sql.Migrations``)."""
    if revision == "head" and current_revision(engine) == head_revision():
        return
    MIGRATIONS.upgrade(engine, revision)


# A short outage (a server restart) is retried, never seen by the caller: writes are
# idempotent because the key is unique (see core/retry.py).
retry_methods(SQLResultsStore, ("insert_many", "delete", "get", "_by_keys", "_find", "_count"))
