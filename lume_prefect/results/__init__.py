"""The results store: every run's inputs, outputs and files, deduplicated by key, queryable and plotted.

Domain code (``result``, ``codec``, ``store``, ``sql``, ``mongo``, ``plots``) imports no
Prefect; ``blocks`` and ``tasks`` add the Prefect side.
"""

from lume_prefect.results.blocks import MongoResults, ResultsBlock, SQLResults
from lume_prefect.results.errors import (
    AmbiguousKey,
    DuplicateResult,
    InvalidQuery,
    InvalidResultValue,
    ResultNotFound,
    ResultsError,
    UnsupportedBackend,
)
from lume_prefect.results.mongo import MongoResultsStore
from lume_prefect.results.plots import plot_frame
from lume_prefect.results.result import Result
from lume_prefect.results.sql import SQLResultsStore
from lume_prefect.results.store import ResultsStore, results_to_dataframe
from lume_prefect.results.tasks import (
    RESULTS_STORE_ENV,
    load_result,
    plot_results,
    query_results,
    resolve_results_store,
    save_result,
)

__all__ = [
    "RESULTS_STORE_ENV",
    "AmbiguousKey",
    "DuplicateResult",
    "InvalidQuery",
    "InvalidResultValue",
    "MongoResults",
    "MongoResultsStore",
    "Result",
    "ResultNotFound",
    "ResultsBlock",
    "ResultsError",
    "ResultsStore",
    "SQLResults",
    "SQLResultsStore",
    "UnsupportedBackend",
    "load_result",
    "plot_frame",
    "plot_results",
    "query_results",
    "resolve_results_store",
    "results_to_dataframe",
    "save_result",
]
