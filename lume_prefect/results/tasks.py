"""Prefect tasks of the results store: save, load, query and plot results.

Which store a flow uses is configuration, not code: every task takes ``store`` as a saved
block's name (``lume-sql-results/name``, ``lume-mongo-results/name`` or a bare name), a
block, or a store; left out, the ``LUME_RESULTS_STORE`` environment variable names it if set
(``"none"`` turns persistence off), else it is the current services' results store
(``LUME_SERVICES``, else ``local``), the rule of ``lume_prefect.core.resolve``.
None of the tasks is cached: a write is a side effect and a query's answer changes.
"""

from __future__ import annotations

import math
import os
from datetime import datetime
from typing import Any, Optional

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from lume_prefect.files.blocks import FileBlock
from lume_prefect.files.fileref import FileRef
from lume_prefect.core.resolve import resolve
from lume_prefect.results.blocks import ResultsBlock
from lume_prefect.results.errors import ResultNotFound
from lume_prefect.results.plots import PlotKind, as_frame, plot_frame, png_bytes
from lume_prefect.results.result import Result
from lume_prefect.results.settings import NO_STORE, RESULTS_STORE_ENV
from lume_prefect.results.store import OnDuplicate, ResultsStore

TABLE_ROWS = 200  # rows of the plotted data published as a table artifact


def resolve_results_store(store: ResultsStore | ResultsBlock | str | None = None) -> ResultsStore | None:
    """The store to use: given (a store, a block, or a saved block's name), else the one named
    by ``LUME_RESULTS_STORE`` if set (``"none"``: persistence off, None), else the current
    services' results store (``lume_prefect.core.resolve``).
    """
    if isinstance(store, ResultsStore):
        return store
    if store is None:
        store = os.environ.get(RESULTS_STORE_ENV, "").strip() or None
    if isinstance(store, str) and store.strip().lower() in NO_STORE:
        return None
    if store is not None and not isinstance(store, (str, ResultsBlock)):
        raise TypeError(f"store must be a results store, a results block or a saved block's name, got {type(store).__name__}")
    return resolve(store, "results").store()


def _required_store(store: ResultsStore | ResultsBlock | str | None) -> ResultsStore:
    resolved = resolve_results_store(store)
    if resolved is None:
        raise ValueError(f"no results store: {RESULTS_STORE_ENV} turns persistence off; pass store=<block name>")
    return resolved


@task(name="save-result", cache_policy=NO_CACHE)
def save_result(
    result: Result,
    store: ResultsStore | ResultsBlock | str | None = None,
    on_duplicate: OnDuplicate = "skip",
) -> str:
    """Store ``result`` (skipping one already stored under its key by default); returns its key.

    With persistence off (no store configured) the result is not stored and a log line says so.
    """
    resolved = resolve_results_store(store)
    if resolved is None:
        get_run_logger().info("results persistence is off (%s=none): result %s not stored", RESULTS_STORE_ENV, result.key)
        return result.key
    return resolved.insert(result, on_duplicate)


@task(name="load-result", cache_policy=NO_CACHE)
def load_result(key: str, store: ResultsStore | ResultsBlock | str | None = None) -> Result:
    """The result stored under ``key``; raises ResultNotFound when there is none."""
    resolved = _required_store(store)
    result = resolved.get(key)
    if result is None:
        raise ResultNotFound(key, repr(resolved))
    return result


@task(name="query-results", cache_policy=NO_CACHE)
def query_results(store: ResultsStore | ResultsBlock | str | None = None, as_dataframe: bool = False, **filters: Any) -> Any:
    """Results matching the filters (those of ``ResultsStore.find``: model, version, since,
    until, inputs, tags, limit, newest_first), as Results or (``as_dataframe``) a DataFrame."""
    resolved = _required_store(store)
    return resolved.to_dataframe(**filters) if as_dataframe else resolved.find(**filters)


@task(name="plot-results", cache_policy=NO_CACHE)
def plot_results(
    y: str,
    x: Optional[str] = None,
    kind: PlotKind = "scatter",
    data: Any = None,
    store: ResultsStore | ResultsBlock | str | None = None,
    query: Optional[dict[str, Any]] = None,
    files: FileBlock | str | None = None,
    path: Optional[str] = None,
    title: Optional[str] = None,
    artifact_key: Optional[str] = None,
    units: Optional[dict[str, str]] = None,
) -> FileRef | None:
    """Plot output ``y`` against input ``x`` (scatter/line) or over time (history).

    The data is ``data`` (a DataFrame or a list of Results) or the results of ``query``
    (keyword arguments of ``find``) in ``store``. The PNG is written through the file block
    ``files`` at ``path`` (default ``plots/<y>-<kind>.png``) and its FileRef returned. On the
    flow run's Artifacts tab it appears as a markdown artifact whose card shows the image,
    and a table artifact of the plotted values (both on the flow run, not under the task).
    ``units`` (by column: ``{"outputs.rms_x": "m"}``, what ``ModelSpec.units()`` gives) label the axes.
    """
    from lume_prefect.results.artifacts import create_flow_run_artifact, publish_plot

    frame = as_frame(data) if data is not None else _required_store(store).to_dataframe(**(query or {}))
    figure, columns = plot_frame(frame, y, x, kind, title, units)
    png = png_bytes(figure)
    ref = None
    if files is not None:
        target = path or f"plots/{_slug(y)}-{kind}.png"
        ref = resolve(files, "files").write(target, png, "bytes", _sync=True)
    key = artifact_key or f"results-{_slug(y)}-{kind}"
    caption = figure.axes[0].get_title()
    rows = frame[columns].head(TABLE_ROWS)
    table = {c: [_cell(v) for v in rows[c]] for c in columns}
    publish_plot(png, key, caption, table, count=len(frame), shown=len(rows), location=ref.url if ref is not None and ref.url else "")
    if ref is not None and (ref.url or "").startswith(("http://", "https://")):  # only a browser-readable file
        create_flow_run_artifact("image", f"{key}-file", ref.url, caption)
    return ref


def _slug(text: str) -> str:
    slug = "".join(ch if ch.isalnum() else "-" for ch in text.lower()).strip("-")
    return "-".join(part for part in slug.split("-") if part) or "plot"


def _cell(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)
