"""The results blocks: SQLResults and MongoResults.

A block is a store's configuration, saved once in Prefect (UI or code) and loaded by name
where results are written or read. Its methods are the store's; each is sync in sync code
and awaitable in async code, with an explicit ``a``-prefixed async twin.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Optional

from prefect.blocks.core import Block
from pydantic import Field, PrivateAttr, SecretStr

from lume_prefect.files.blocks import sync_or_async
from lume_prefect.results.result import Result
from lume_prefect.results.store import OnDuplicate, ResultsStore

if TYPE_CHECKING:
    import pandas

DOCS_URL = "https://github.com/lume-prefect/lume-prefect#results-store"
LOGO_URL = "https://raw.githubusercontent.com/PrefectHQ/prefect/420d0d6a78bb6df1fc18bcf188fdad43c1d22ea9/assets/block-logos/sqlalchemy.png"


class ResultsBlock(Block, abc.ABC):
    """What the results blocks share: the ResultsStore methods over the store they configure."""

    _results_store: Optional[ResultsStore] = PrivateAttr(None)

    @abc.abstractmethod
    def _build_store(self) -> ResultsStore: ...

    def store(self) -> ResultsStore:
        """The ResultsStore this block configures (built once per block instance)."""
        if self._results_store is None:
            self._results_store = self._build_store()
        return self._results_store

    @sync_or_async
    def insert(self, result: Result, on_duplicate: OnDuplicate = "error") -> str:
        """Store one result and return its key; ``on_duplicate``: 'error', 'skip' or 'replace'."""
        return self.store().insert(result, on_duplicate)

    @sync_or_async
    def insert_many(self, results: Sequence[Result], on_duplicate: OnDuplicate = "error") -> list[str]:
        """Store results in one bulk round-trip (all or nothing under 'error'); returns their keys."""
        return self.store().insert_many(results, on_duplicate)

    @sync_or_async
    def get(self, key: str) -> Result | None:
        """The result stored under ``key``, or None."""
        return self.store().get(key)

    @sync_or_async
    def find(
        self,
        model: Optional[str] = None,
        version: Optional[str] = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        inputs: Optional[dict[str, Any]] = None,
        tags: str | Sequence[str] | None = None,
        limit: Optional[int] = None,
        newest_first: bool = True,
    ) -> list[Result]:
        """Results matching every given filter (see ``ResultsStore.find``)."""
        return self.store().find(model, version, since, until, inputs, tags, limit, newest_first)

    @sync_or_async
    def count(
        self,
        model: Optional[str] = None,
        version: Optional[str] = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        inputs: Optional[dict[str, Any]] = None,
        tags: str | Sequence[str] | None = None,
    ) -> int:
        """How many results match."""
        return self.store().count(model, version, since, until, inputs, tags)

    @sync_or_async
    def to_dataframe(
        self,
        model: Optional[str] = None,
        version: Optional[str] = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        inputs: Optional[dict[str, Any]] = None,
        tags: str | Sequence[str] | None = None,
        limit: Optional[int] = None,
        newest_first: bool = True,
    ) -> pandas.DataFrame:
        """Matching results, one row each, with ``inputs.*``/``outputs.*`` columns."""
        return self.store().to_dataframe(model, version, since, until, inputs, tags, limit, newest_first)

    @sync_or_async
    def delete(self, key: str) -> bool:
        """Delete the result under ``key``; whether there was one."""
        return self.store().delete(key)

    ainsert = insert.aio
    ainsert_many = insert_many.aio
    aget = get.aio
    afind = find.aio
    acount = count.aio
    ato_dataframe = to_dataframe.aio
    adelete = delete.aio


class SQLResults(ResultsBlock):
    """Results in SQLite or PostgreSQL.

    The schema is created (and later upgraded) by the store's Alembic migrations on first
    use, with their own version table, so one database can hold both the results and the
    model registry. Without a URL the store is a SQLite file in the user's data directory.

    Examples:
        Configure once, then use by name in any flow:
        ```python
        from pydantic import SecretStr
        from lume_prefect.results import SQLResults

        SQLResults(url=SecretStr("postgresql+psycopg://lume:pw@db:5432/lume")).save("BLOCK_NAME")

        results = SQLResults.load("BLOCK_NAME")
        results.insert(result, on_duplicate="skip")
        frame = results.to_dataframe(model="injector", since="2026-11-01")
        ```
    """

    _block_type_name = "LUME SQL Results"
    _block_type_slug = "lume-sql-results"
    _description = "Model run results (inputs, outputs, files) in SQLite or PostgreSQL: deduplicated by key, queryable, exportable."
    _documentation_url = DOCS_URL
    _logo_url = LOGO_URL

    url: Optional[SecretStr] = Field(
        default=None,
        description=(
            "SQLAlchemy URL of the database, e.g. postgresql+psycopg://user:password@host:5432/lume "
            "or sqlite:////data/results.sqlite. Empty: a SQLite file in the user's data directory."
        ),
    )

    def _build_store(self) -> ResultsStore:
        from lume_prefect.results.sql import SQLResultsStore

        return SQLResultsStore(self.url)


class MongoResults(ResultsBlock):
    """Results in a MongoDB collection.

    The unique index on the result key and the query indexes are created on first use.

    Examples:
        ```python
        from pydantic import SecretStr
        from lume_prefect.results import MongoResults

        MongoResults(url=SecretStr("mongodb://lume:pw@mongo:27017"), database="lume").save("BLOCK_NAME")

        results = MongoResults.load("BLOCK_NAME")
        recent = results.find(model="injector", tags=["scan-7"], limit=10)
        ```
    """

    _block_type_name = "LUME MongoDB Results"
    _block_type_slug = "lume-mongo-results"
    _description = "Model run results (inputs, outputs, files) in a MongoDB collection: deduplicated by key, queryable, exportable."
    _documentation_url = DOCS_URL
    _logo_url = LOGO_URL

    url: SecretStr = Field(
        description="MongoDB connection string, e.g. mongodb://user:password@host:27017/?authSource=admin.",
    )
    database: str = Field(description="Name of the database holding the results.", examples=["lume"])
    collection: str = Field(default="results", description="Name of the collection holding the results.")

    def _build_store(self) -> ResultsStore:
        from lume_prefect.results.mongo import MongoResultsStore

        return MongoResultsStore(self.url, self.database, self.collection)
