"""The results blocks: SQLResults and MongoResults.

A block is a store's configuration, saved once in Prefect (UI or code) and loaded by name
where results are written or read. Its methods are the store's; each is sync in sync code
and awaitable in async code, with an explicit ``a``-prefixed async twin.
"""

from __future__ import annotations

import abc

from lume_prefect.core.blocks import ServiceBlock, delegate, docs_url, logo_url
from lume_prefect.results.settings import MongoResultsSettings, SQLResultsSettings
from lume_prefect.results.store import ResultsStore

LOGO = logo_url("sqlalchemy")


@delegate(ResultsStore, "insert", "insert_many", "get", "full_key", "find", "count", "to_dataframe", "delete")
class ResultsBlock(ServiceBlock, abc.ABC):  # abc.ABC: Prefect registers no block type for it
    """What the results blocks share: the ResultsStore methods over the store they configure
    (their settings class's ``build``, ``results/settings.py``, which needs no Prefect)."""

    def _build(self) -> ResultsStore:
        return self.build()  # type: ignore[attr-defined] - each block's settings class

    def store(self) -> ResultsStore:
        """The ResultsStore this block configures (one per configuration in a process)."""
        return self._domain()


class SQLResults(ResultsBlock, SQLResultsSettings):
    """Results in SQLite, PostgreSQL or MariaDB/MySQL.

    The schema is created (and later upgraded) by the store's Alembic migrations on first
    use, with their own version table, so one database can hold both the results and the
    model registry. Without a URL the store is ``results.db`` in the lume-prefect data directory
    (``$LUME_PREFECT_HOME``), the results of the ``local`` services.

    Examples:
        Load a saved block and use it in any flow:
        ```python
        from lume_prefect.results import SQLResults

        results = SQLResults.load("BLOCK_NAME")
        results.insert(result, on_duplicate="skip")
        frame = results.to_dataframe(model="injector", since="2026-11-01")
        ```

        Configure one once:
        ```python
        from pydantic import SecretStr
        from lume_prefect.results import SQLResults

        SQLResults(url=SecretStr("postgresql+psycopg://lume:pw@db:5432/lume")).save("lume-results")
        ```
    """

    _block_type_name = "LUME SQL Results"
    _block_type_slug = SQLResultsSettings.type_slug
    _description = "Model run results (inputs, outputs, files) in SQLite, PostgreSQL or MariaDB: deduplicated by key, queryable, exportable."
    _documentation_url = docs_url(_block_type_slug)
    _logo_url = LOGO


class MongoResults(ResultsBlock, MongoResultsSettings):
    """Results in a MongoDB collection.

    The unique index on the result key and the query indexes are created on first use.

    Examples:
        Load a saved block and query it:
        ```python
        from lume_prefect.results import MongoResults

        results = MongoResults.load("BLOCK_NAME")
        recent = results.find(model="injector", tags=["scan-7"], limit=10)
        ```

        Configure one once:
        ```python
        from pydantic import SecretStr
        from lume_prefect.results import MongoResults

        MongoResults(url=SecretStr("mongodb://lume:pw@mongo:27017"), database="lume").save("lume-results")
        ```
    """

    _block_type_name = "LUME MongoDB Results"
    _block_type_slug = MongoResultsSettings.type_slug
    _description = "Model run results (inputs, outputs, files) in a MongoDB collection: deduplicated by key, queryable, exportable."
    _documentation_url = docs_url(_block_type_slug)
    _logo_url = LOGO
