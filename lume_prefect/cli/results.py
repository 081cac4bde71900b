"""``lume-prefect results``: list, show, export, plot and reproduce stored results.

The store is that of the services named by ``--services``, or a SQL URL (``--url`` or the
``LUME_RESULTS_URL`` environment variable, which keeps a password out of the process list);
without either, the block named by ``LUME_RESULTS_STORE``, else the current services' results
store (``LUME_SERVICES``, else ``local``): the rule of ``lume_prefect.core.resolve``. The older
``--store NAME`` (a saved results block) still works; it is no longer shown in the help.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, Optional

from cyclopts import App, Parameter

from lume_prefect.cli.output import console, fail, print_json, print_table

app = App(name="results", help="List, show, export, plot and reproduce stored model results.")
RESULTS_URL_ENV = "LUME_RESULTS_URL"


@Parameter(name="*")
@dataclass
class Selection:
    """Which store, and which results in it."""

    # before --services: a saved results block (name or type-slug/name); hidden, still honoured
    store: Annotated[Optional[str], Parameter(show=False)] = None
    services: Annotated[Optional[str], Parameter(help="Saved LumeServices block (default: $LUME_SERVICES, else 'local').")] = None
    url: Annotated[Optional[str], Parameter(help=f"SQL URL of the store (or set {RESULTS_URL_ENV}).")] = None
    model: Annotated[Optional[str], Parameter(help="Only this model.")] = None
    version: Annotated[Optional[str], Parameter(help="Only this model version.")] = None
    since: Annotated[Optional[str], Parameter(help="Only results created at or after this ISO-8601 time.")] = None
    until: Annotated[Optional[str], Parameter(help="Only results created before this ISO-8601 time.")] = None
    tag: Annotated[list[str], Parameter(help="Only results with this tag (repeatable).", negative=())] = field(default_factory=list)
    input: Annotated[list[str], Parameter(help="Only results whose input NAME equals VALUE: NAME=VALUE (repeatable; VALUE as JSON, else text).", negative=())] = field(default_factory=list)

    def open(self) -> Any:
        """The store: built without Prefect where it can be (``lume_prefect.stores``)."""
        from lume_prefect.results.settings import NO_STORE, RESULTS_STORE_ENV
        from lume_prefect.stores import find

        if self.store and self.url:
            fail("give either --store (a saved results block) or --url (a SQL URL), not both")
        url = self.url or (None if self.store else os.environ.get(RESULTS_URL_ENV))
        # the rule of results.tasks.resolve_results_store: the block named, else $LUME_RESULTS_STORE, else the services'
        name = self.store if self.store is not None or self.services is not None else os.environ.get(RESULTS_STORE_ENV, "").strip() or None
        if not url and name is not None and name.strip().lower() in NO_STORE:
            fail(f"no results store: {RESULTS_STORE_ENV} is 'none'; pass --services NAME or --url URL (or set {RESULTS_URL_ENV})")
        try:
            if url:
                from lume_prefect.results.sql import SQLResultsStore

                return SQLResultsStore(url)
            return find("results", name, self.services).store
        except (ValueError, TypeError) as exc:
            fail(exc)

    def query(self) -> dict[str, Any]:
        inputs = {}
        for item in self.input:
            name, sep, text = item.partition("=")
            if not sep or not name:
                fail(f"--input must be NAME=VALUE, got {item!r}")
            try:
                inputs[name] = json.loads(text)
            except json.JSONDecodeError:
                inputs[name] = text
        return {
            "model": self.model,
            "version": self.version,
            "since": self.since,
            "until": self.until,
            "inputs": inputs or None,
            "tags": self.tag or None,
        }


def _frame(selection: Selection, limit: Optional[int], oldest_first: bool = False) -> Any:
    from lume_prefect.results.errors import ResultsError

    store = selection.open()
    try:
        return store.to_dataframe(**selection.query(), limit=limit, newest_first=not oldest_first)
    except ResultsError as exc:
        fail(exc)
    finally:
        store.close()


@app.command(name="list")
def list_results(
    selection: Selection = Selection(),
    *,
    limit: int = 20,
    json: bool = False,
) -> None:
    """The newest matching results: key, model, version, created, and their inputs and outputs.

    Parameters
    ----------
    limit
        At most this many results (newest first).
    json
        Print JSON instead of a table.
    """
    from lume_prefect.results.errors import ResultsError
    from lume_prefect.results.store import result_rows

    store = selection.open()
    try:  # rows, not a DataFrame: pandas would cost a listing more than its query
        found, columns = result_rows(store.find(**selection.query(), limit=limit))
    except ResultsError as exc:
        fail(exc)
    finally:
        store.close()
    if json:  # a value a result lacks is null, as a DataFrame's NaN was
        print_json([{c: jsonable(row.get(c)) for c in columns} for row in found])
        return
    columns = ["key", "model", "version", "created"] + [c for c in columns if c.startswith(("inputs.", "outputs."))]
    print_table(f"{len(found)} results", columns, [[_short(row[c], c) if c in row else "" for c in columns] for row in found])


@app.command(name="show")
def show(key: str, selection: Selection = Selection(), *, json: bool = False) -> None:
    """One result in full: inputs, outputs, files, tags and where it came from.

    Parameters
    ----------
    key
        The result's key: its 64 hex digits, or the first 12 that `results list` and the logs show (any 4 or more that are unique).
    json
        Print JSON instead of a table.
    """
    from lume_prefect.results.errors import ResultsError

    store = selection.open()
    try:
        result = store.get(store.full_key(key))
    except ResultsError as exc:
        fail(exc)
    finally:
        store.close()
    if result is None:  # deleted between the two reads
        fail(f"no result with key {key!r} in {store!r}")
    data = {
        "key": result.key,
        "model": result.model,
        "version": result.version,
        "created": result.created.isoformat(),
        "flow_run_id": str(result.flow_run_id) if result.flow_run_id else None,
        "tags": result.tags,
        "inputs": jsonable(result.inputs),
        "outputs": jsonable(result.outputs),
        "files": [ref.model_dump(mode="json") for ref in result.files],
    }
    if json:
        print_json(data)
        return
    from lume_prefect.results.store import flatten

    rows = [(name, data[name]) for name in ("key", "model", "version", "created", "flow_run_id", "tags")]
    rows += [(name, _short(value, name)) for name, value in flatten(result.inputs, "inputs", {}).items()]
    rows += [(name, _short(value, name)) for name, value in flatten(result.outputs, "outputs", {}).items()]
    rows += [(f"files[{i}]", ref.url or ref.path) for i, ref in enumerate(result.files)]
    print_table(f"result {result.key[:12]}", ["field", "value"], rows)


@app.command(name="export")
def export(
    output: Path,
    selection: Selection = Selection(),
    *,
    format: Optional[Literal["csv", "parquet", "json"]] = None,
    limit: Optional[int] = None,
) -> None:
    """Write matching results, one row each (inputs.* and outputs.* columns), to OUTPUT.

    The format follows OUTPUT's extension unless --format is given. Arrays, DataFrames,
    lists and dicts become JSON text in CSV and Parquet cells, and JSON in a JSON file.

    Parameters
    ----------
    output
        File to write: .csv, .parquet or .json.
    format
        csv, parquet or json (default: OUTPUT's extension).
    limit
        At most this many results (oldest first).
    """
    chosen = format or output.suffix.lstrip(".").lower()
    if chosen not in ("csv", "parquet", "json"):
        fail(f"cannot tell the format of {str(output)!r}: use a .csv, .parquet or .json name, or --format")
    frame = _frame(selection, limit, oldest_first=True)
    if chosen == "json":
        records = [{k: jsonable(v) for k, v in row.items()} for row in frame.to_dict(orient="records")]
        output.write_text(json.dumps(records, indent=1, allow_nan=False) + "\n")
    else:
        flat = frame.copy()
        for name in flat.columns:
            if name != "created":
                flat[name] = [_cell_text(v) for v in flat[name]]
        flat.to_csv(output, index=False) if chosen == "csv" else flat.to_parquet(output, index=False)
    console.print(f"{len(frame)} results written to {output} ({chosen})", highlight=False)


@app.command(name="plot")
def plot(
    output: Path,
    y: Annotated[str, Parameter(help="Output (or input) to plot, e.g. emittance or outputs.emittance.")],
    selection: Selection = Selection(),
    *,
    x: Annotated[Optional[str], Parameter(help="Input (or output) on the x axis; not for history.")] = None,
    kind: Literal["scatter", "line", "history"] = "scatter",
    title: Optional[str] = None,
    limit: Optional[int] = None,
) -> None:
    """Save a figure of Y against X (scatter or line) or of Y over time (history) to OUTPUT.

    Parameters
    ----------
    output
        Image file to write, in the format its extension names (.png, .jpg, .svg, .pdf ...; PNG without one).
    kind
        scatter or line (Y against X), or history (Y over time).
    title
        Title of the figure (default: Y vs X).
    limit
        At most this many results (newest first).
    """
    from lume_prefect.results.plots import image_format, plot_frame

    try:
        chosen = image_format(output)
    except ValueError as exc:
        fail(str(exc))
    frame = _frame(selection, limit)
    if frame.empty:
        fail("no results match: nothing to plot")
    try:
        figure, _ = plot_frame(frame, y, x, kind, title, _units(frame))
    except (KeyError, ValueError) as exc:
        fail(str(exc.args[0]) if isinstance(exc, KeyError) else str(exc))
    figure.savefig(output, format=chosen, dpi=100)
    console.print(f"plot of {len(frame)} results written to {output}", highlight=False)


def _units(frame: Any) -> dict[str, str]:
    """The units the registry's specs give the plotted versions' inputs and outputs (none
    for a version the current services' registry does not know)."""
    from lume_prefect.models.contract import ModelSpec
    from lume_prefect.registry.errors import RegistryError
    from lume_prefect.stores import find

    units: dict[str, str] = {}
    try:
        registry = find("registry").store
        for model, version in frame[["model", "version"]].drop_duplicates().itertuples(index=False):
            registered = registry.get_version(model, version)
            units |= ModelSpec.from_parameters_schema(registered.parameters_schema, model, version).units()
    except (RegistryError, ValueError):
        pass
    return units


# ---- cell formatting -----------------------------------------------------------------


def jsonable(value: Any) -> Any:
    """Plain JSON data: arrays as nested lists, DataFrames as column lists, NaN as None."""
    numpy, pandas = _loaded("numpy"), _loaded("pandas")
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, numpy.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, pandas.DataFrame):
        return jsonable(value.reset_index().to_dict(orient="list"))
    if isinstance(value, numpy.generic):
        return jsonable(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, complex):
        return [value.real, value.imag]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _cell_text(value: Any) -> Any:
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    return json.dumps(jsonable(value))


def _loaded(name: str) -> Any:
    """The module ``name`` if imported, else a stand-in no value is an instance of: a value of
    its types exists only once it is imported, and importing pandas costs ``results show`` more
    than its query."""
    import sys

    return sys.modules.get(name, _NotLoaded)


class _NotLoaded:
    ndarray = generic = DataFrame = type("NotLoaded", (), {})


def _short(value: Any, name: str) -> str:
    numpy, pandas = _loaded("numpy"), _loaded("pandas")
    if name == "key":
        return str(value)[:12]
    if isinstance(value, numpy.ndarray):
        return f"array {value.dtype} {value.shape}"
    if isinstance(value, pandas.DataFrame):
        return f"DataFrame {value.shape[0]}x{value.shape[1]}"
    if hasattr(value, "isoformat"):
        return value.isoformat(timespec="seconds")
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        text = f"{value:.6g}"
        return text if any(c in text for c in ".einf") else f"{text}.0"  # 1.0 reads as a float, as in --json
    return str(value)


app.command(list_results, name="ls", show=False)  # as `files ls`: both names everywhere
# Re-running needs the registry too: --services as `lume-prefect run`. A lazy command's summary
# is not read from its docstring until it runs: given here, for `results --help`.
app.command("lume_prefect.cli.runs:reproduce", name="reproduce",
            help="Re-run the exact model version and inputs of the stored result KEY and compare outputs.")
