"""What the results blocks are configured with, without Prefect: their fields (names, types,
defaults, descriptions) and the store they build.

``SQLResults`` and ``MongoResults`` (``blocks.py``) take their fields from these classes; a
command that only reads or writes results builds the same store from a saved block's data
without importing Prefect (``lume_prefect.stores``).
"""

from __future__ import annotations

from typing import ClassVar, Optional

from pydantic import BaseModel, Field, SecretStr

from lume_prefect.results.store import ResultsStore

# names the results block every write and query uses when none is given; "none": no persistence
RESULTS_STORE_ENV = "LUME_RESULTS_STORE"
NO_STORE = ("", "none")


class SQLResultsSettings(BaseModel):
    """Results in a SQL database (``SQLResults``)."""

    type_slug: ClassVar[str] = "lume-sql-results"

    url: Optional[SecretStr] = Field(
        default=None,
        description=(
            "SQLAlchemy URL of the database, e.g. postgresql+psycopg://user:password@host:5432/lume, "
            "mysql+pymysql://user:password@host:3306/lume or sqlite:////data/results.db. "
            "Empty: results.db in the lume-prefect data directory ($LUME_PREFECT_HOME), as the local services use."
        ),
    )

    def build(self) -> ResultsStore:
        """The store in the database at ``url``."""
        from lume_prefect.results.sql import SQLResultsStore

        return SQLResultsStore(self.url)


class MongoResultsSettings(BaseModel):
    """Results in a MongoDB collection (``MongoResults``)."""

    type_slug: ClassVar[str] = "lume-mongo-results"

    url: SecretStr = Field(
        description="MongoDB connection string, e.g. mongodb://user:password@host:27017/?authSource=admin.",
    )
    database: str = Field(description="Name of the database holding the results.", examples=["lume"])
    collection: str = Field(default="results", description="Name of the collection holding the results.")

    def build(self) -> ResultsStore:
        """The store in ``collection`` of ``database``."""
        from lume_prefect.results.mongo import MongoResultsStore

        return MongoResultsStore(self.url, self.database, self.collection)
