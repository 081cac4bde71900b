"""The results store: every run's inputs, outputs and files, deduplicated by key, queryable and plotted.

Domain code (``result``, ``codec``, ``store``, ``sql``, ``mongo``, ``plots``, ``settings``)
imports no Prefect; ``blocks`` and ``tasks`` add the Prefect side.
"""

from lume_prefect.core.lazy import lazy_names
from lume_prefect.results.errors import (
    AmbiguousKey,
    DuplicateResult,
    InvalidQuery,
    InvalidResultValue,
    ResultNotFound,
    ResultsError,
    UnsupportedBackend,
)
from lume_prefect.results.result import Result
from lume_prefect.results.store import ResultsStore, results_to_dataframe

# the blocks and tasks load Prefect, the stores their database drivers, the plots matplotlib:
# imported on first use, so a command that reads results loads none it does not use
_LAZY = {
    **dict.fromkeys(["MongoResults", "ResultsBlock", "SQLResults"], "lume_prefect.results.blocks"),
    "MongoResultsStore": "lume_prefect.results.mongo",
    "SQLResultsStore": "lume_prefect.results.sql",
    "plot_frame": "lume_prefect.results.plots",
    "RESULTS_STORE_ENV": "lume_prefect.results.settings",
    **dict.fromkeys(["load_result", "plot_results", "query_results", "resolve_results_store", "save_result"], "lume_prefect.results.tasks"),
}
__getattr__, __dir__ = lazy_names(__name__, _LAZY, globals())

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
