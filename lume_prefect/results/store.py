"""The ResultsStore interface, and what every store shares: argument checks, batches, DataFrames.

A store implements ``insert_many``, ``get``, ``delete``, ``_find`` and ``_count``; ``insert``,
``find``, ``count`` and ``to_dataframe`` are built on them here, so the two stores cannot
disagree on what a query means.
"""

from __future__ import annotations

import abc
import contextlib
import functools
import gc
import inspect
import math
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, Optional, TypeVar, get_args

from lume_prefect.results.errors import DuplicateResult, InvalidQuery
from lume_prefect.results.result import Result, as_utc

if TYPE_CHECKING:
    import pandas

T = TypeVar("T")
OnDuplicate = Literal["error", "skip", "replace"]
KEY_PATTERN = re.compile(r"^[0-9a-f]{64}$")
_HEX = re.compile(r"[0-9a-f]*")
KEY_PREFIX = re.compile(r"^[0-9a-f]{4,64}$")  # as git: at least 4 digits of a key name it, if they are unique
# keys per query of get_many: far below SQLite's 32,766 bound parameters and PostgreSQL's 65,535
KEYS_PER_QUERY = 2_000
BASE_COLUMNS = ["key", "model", "version", "created", "flow_run_id", "tags", "files"]


@dataclass(frozen=True)
class Query:
    """A checked query: every store translates this, never the raw arguments."""

    model: Optional[str] = None
    version: Optional[str] = None
    since: Optional[datetime] = None
    until: Optional[datetime] = None
    inputs: tuple[tuple[tuple[str, ...], Any], ...] = ()
    tags: tuple[str, ...] = ()
    limit: Optional[int] = None
    newest_first: bool = True
    keys: tuple[str, ...] = ()  # results with any of these keys (empty: no key filter)

    @classmethod
    def build(
        cls,
        model: Optional[str] = None,
        version: Optional[str] = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        inputs: Optional[dict[str, Any]] = None,
        tags: str | Sequence[str] | None = None,
        limit: Optional[int] = None,
        newest_first: bool = True,
        keys: Optional[Sequence[str]] = None,
    ) -> Query:
        """Check every argument; raises InvalidQuery naming the first one that is wrong."""
        for name, value in (("model", model), ("version", version)):
            if value is not None and not isinstance(value, str):
                raise InvalidQuery(name, f"must be a str or None, got {type(value).__name__} {value!r}")
        if limit is not None and (type(limit) is not int or limit < 0):
            raise InvalidQuery("limit", f"must be a non-negative int or None, got {limit!r}")
        if not isinstance(newest_first, bool):
            raise InvalidQuery("newest_first", f"must be a bool, got {newest_first!r}")
        return cls(
            model=model,
            version=version,
            since=_moment("since", since),
            until=_moment("until", until),
            inputs=_input_filters(inputs),
            tags=_tag_filters(tags),
            limit=limit,
            newest_first=newest_first,
            keys=_key_filter(keys),
        )


def query_method(method: Callable[[Any, Query], T]) -> Callable[..., T]:
    """``method(self, query)`` called with the filters of ``Query.build`` as its parameters
    (and signature): the query is written once, for every store, block and task that takes it."""
    parameters = list(inspect.signature(Query.build).parameters.values())
    own = inspect.signature(method)

    @functools.wraps(method)
    def with_filters(self: Any, *args: Any, **filters: Any) -> T:
        return method(self, Query.build(*args, **filters))

    with_filters.__signature__ = own.replace(parameters=[next(iter(own.parameters.values())), *parameters])  # type: ignore[attr-defined]
    return with_filters


def _moment(name: str, value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise InvalidQuery(name, f"{value!r} is not an ISO-8601 date or time (e.g. '2026-11-24T08:00:00+00:00')") from None
    if not isinstance(value, datetime):
        raise InvalidQuery(name, f"must be a datetime or an ISO-8601 str, got {type(value).__name__} {value!r}")
    return as_utc(value)


def _input_filters(inputs: Any) -> tuple[tuple[tuple[str, ...], Any], ...]:
    if inputs is None:
        return ()
    if not isinstance(inputs, dict):
        raise InvalidQuery("inputs", f"must be a dict of input names (dotted for nested) to values, got {type(inputs).__name__}")
    filters = []
    for name, value in inputs.items():
        path = tuple(name.split(".")) if isinstance(name, str) else ()
        if not path or not all(part and re.fullmatch(r"[^\"$\\]+", part) for part in path):
            raise InvalidQuery(f"inputs[{name!r}]", "input names must be non-empty str, dotted for nested inputs, without '\"', '$' or '\\'")
        filters.append((path, _query_value(f"inputs.{name}", value)))
    return tuple(filters)


def _query_value(field: str, value: Any) -> Any:
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidQuery(field, f"cannot match {value!r}: NaN and infinities are never stored as inputs")
        return float(value) if isinstance(value, float) else int(value)  # a subclass (numpy.float64) as the drivers send a number
    item = getattr(value, "item", None)  # a NumPy scalar
    if callable(item) and getattr(value, "ndim", None) == 0:
        return _query_value(field, item())
    raise InvalidQuery(field, f"only None, bool, numbers and str can be matched, got {type(value).__name__}")


def _tag_filters(tags: Any) -> tuple[str, ...]:
    if tags is None:
        return ()
    if isinstance(tags, str):
        tags = [tags]
    if not isinstance(tags, (list, tuple, set)) or not all(isinstance(t, str) and t for t in tags):
        raise InvalidQuery("tags", f"must be a str or a list of non-empty str, got {tags!r}")
    return tuple(tags)


def check_keys(keys: Any) -> tuple[str, ...]:
    """``keys`` (a non-empty list of result keys) as a tuple; InvalidQuery naming the first bad one."""
    return _key_filter(keys)


def _key_filter(keys: Any) -> tuple[str, ...]:
    if keys is None:
        return ()
    if isinstance(keys, str) or not isinstance(keys, (list, tuple, set, frozenset)):
        raise InvalidQuery("keys", f"must be a list of result keys, got {type(keys).__name__}")
    if not keys:
        raise InvalidQuery("keys", "is empty: give at least one key, or None for no key filter")
    # thousands of keys (a scan's lookup) in one match over them all; any doubt, key by key
    if all(type(key) is str and len(key) == 64 for key in keys) and _HEX.fullmatch("".join(keys)):
        return tuple(keys)
    for i, key in enumerate(keys):
        if type(key) is not str or not KEY_PATTERN.match(key):
            raise InvalidQuery(f"keys[{i}]", f"must be 64 lowercase hex digits (a Result.key), got {key!r}")
    return tuple(keys)


def check_key(key: Any) -> str:
    if not isinstance(key, str) or not KEY_PATTERN.match(key):
        raise InvalidQuery("key", f"must be 64 lowercase hex digits (a Result.key), got {key!r}")
    return key


def prepare_batch(results: Iterable[Result], on_duplicate: Any) -> tuple[list[Result], list[str]]:
    """The results to write (one per key) and every result's key, in order.

    Within one batch ``skip`` keeps the first of a key, ``replace`` the last, and ``error``
    refuses the whole batch before anything is written.
    """
    if on_duplicate not in get_args(OnDuplicate):
        raise ValueError(f"on_duplicate must be one of 'error', 'skip', 'replace', got {on_duplicate!r}")
    if isinstance(results, Result):
        raise TypeError("insert_many takes a list of Results; use insert for one")
    batch: dict[str, Result] = {}
    keys = []
    for i, result in enumerate(results):
        if not isinstance(result, Result):
            raise TypeError(f"results[{i}] must be a Result, got {type(result).__name__}")
        key = result.key
        keys.append(key)
        if key in batch:
            if on_duplicate == "error":
                raise DuplicateResult(key, result.model)
            if on_duplicate == "skip":
                continue
            del batch[key]  # replace: the last one wins, in its own position
        batch[key] = result
    return list(batch.values()), keys


class ResultsStore(abc.ABC):
    """Where results are kept: insert with deduplication, get by key, find, count, export, delete.

    Implementations: ``SQLResultsStore`` (SQLite, PostgreSQL) and ``MongoResultsStore``.
    A store is also a context manager that closes its connections.
    """

    # ---- to implement ---------------------------------------------------------

    @abc.abstractmethod
    def insert_many(self, results: Sequence[Result], on_duplicate: OnDuplicate = "error") -> list[str]:
        """Store ``results`` in one bulk round-trip; returns their keys in order.

        ``on_duplicate``: ``"error"`` raises DuplicateResult naming the key and writes nothing
        of the batch; ``"skip"`` keeps what is stored; ``"replace"`` overwrites it.
        """

    @abc.abstractmethod
    def get(self, key: str) -> Result | None:
        """The result stored under ``key``, or None: one indexed lookup (the cache's hit test)."""

    def full_key(self, key: str) -> str:
        """The stored key that ``key`` is, or begins (as git takes a commit's first digits: the
        12 the CLI and logs show, or any 4 to 64); ResultNotFound when none, AmbiguousKey when
        several. One range scan of the key index, for at most two keys."""
        from lume_prefect.results.errors import AmbiguousKey, ResultNotFound

        prefix = key.strip().lower() if isinstance(key, str) else key
        if not isinstance(prefix, str) or not KEY_PREFIX.match(prefix):
            raise InvalidQuery("key", f"must be a result key: 64 hex digits, or its first 4 or more (as results list shows 12), got {key!r}")
        matches = self._keys_between(prefix, prefix + "g", 2)  # every key beginning with prefix sorts in [prefix, prefix+"g")
        if not matches:
            raise ResultNotFound(prefix, repr(self))
        if len(matches) > 1:
            raise AmbiguousKey(prefix, repr(self), matches)
        return matches[0]

    @abc.abstractmethod
    def _keys_between(self, low: str, high: str, limit: int) -> list[str]:
        """At most ``limit`` stored keys ``k`` with ``low <= k < high``, through the key index."""

    @abc.abstractmethod
    def delete(self, key: str) -> bool:
        """Delete the result under ``key``; whether there was one."""

    @abc.abstractmethod
    def _find(self, query: Query) -> list[Result]: ...

    @abc.abstractmethod
    def _count(self, query: Query) -> int: ...

    def close(self) -> None:
        """Release connections; the store reconnects on next use."""

    # ---- shared ------------------------------------------------------------------

    def insert(self, result: Result, on_duplicate: OnDuplicate = "error") -> str:
        """Store one result; returns its key. See ``insert_many`` for ``on_duplicate``."""
        if not isinstance(result, Result):
            raise TypeError(f"result must be a Result, got {type(result).__name__}")
        return self.insert_many([result], on_duplicate)[0]

    @query_method
    def find(self, query: Query) -> list[Result]:
        """Results matching every given filter, newest first (or oldest first).

        ``since``/``until``: datetimes (naive means UTC) or ISO-8601 strings, ``since`` included,
        ``until`` excluded. ``inputs``: ``{"x": 1, "solenoid.b_T": 0.2}`` matches inputs equal to
        those values (numbers by value, nested inputs by dotted name; None also matches absent).
        ``tags``: results carrying all of them. ``keys``: results with one of these keys
        (one indexed query; ``get_many`` splits a long list into chunks). ``limit``: at most
        this many.
        """
        return self._find(query)

    def get_many(self, keys: Iterable[str]) -> dict[str, Result]:
        """The stored results among ``keys``, by key (absent keys are left out): one indexed
        query per ``KEYS_PER_QUERY`` keys, not one per key -- a scan's cache lookup."""
        wanted = list(dict.fromkeys(keys))
        found: dict[str, Result] = {}
        with collector_paused():
            for start in range(0, len(wanted), KEYS_PER_QUERY):
                for result in self._find(Query.build(keys=wanted[start : start + KEYS_PER_QUERY])):
                    found[result.key] = result
        return found

    @query_method
    def count(self, query: Query) -> int:
        """How many results match (the filters of ``find``; ``limit`` and order do not apply)."""
        return self._count(query)

    @query_method
    def to_dataframe(self, query: Query) -> pandas.DataFrame:
        """The results of ``find`` as one row each, inputs and outputs flattened to
        columns such as ``inputs.x`` and ``outputs.solenoid.b_T``."""
        return results_to_dataframe(self._find(query))

    def __enter__(self) -> ResultsStore:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """No cyclic garbage collection while thousands of Results are built: they hold no cycles,
    yet each full collection would walk all of them (measured: over half the time of reading
    3,000 cached results back). Collection resumes, and catches up, when the block ends."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def trusted_results(
    model: str,
    version: str,
    keys: Sequence[str],
    inputs: Sequence[dict[str, Any]],
    outputs: Sequence[dict[str, Any]],
    *,
    files: Optional[Sequence[list[Any]]] = None,
    tags: Sequence[str] = (),
    flow_run_id: Any = None,
    created: Optional[datetime] = None,
    warnings: Optional[Sequence[list[str]]] = None,
) -> list[Result]:
    """Results of one model version built column-wise, for bulk storage (a scan's batch);
    ``warnings``: per result, what was doubtful about its run (``ModelSpec.input_warnings``).

    The caller vouches for the fields a Result would validate (model and version checked
    once here, ``keys[i] == result_key(model, version, inputs[i])``, tags valid): no pydantic
    validation per row. Values are still encoded one by one, so a value that cannot be
    stored raises InvalidResultValue naming it, as in ``Result``.
    """
    from lume_prefect.results.result import current_flow_run_id, utc_now

    from lume_prefect.results.result import result_model_name, storable_tags

    if not (isinstance(model, str) and 0 < len(model) <= 255 and isinstance(version, str) and 0 < len(version) <= 255):
        raise ValueError(f"model and version must be non-empty str of at most 255 characters, got {model!r}, {version!r}")
    result_model_name(model)
    if not len(keys) == len(inputs) == len(outputs):
        raise ValueError(f"keys, inputs and outputs must have one item per result, got {len(keys)}, {len(inputs)}, {len(outputs)}")
    tag_list = storable_tags(tags)  # checked once for the batch, as Result checks them
    run_id = flow_run_id if flow_run_id is not None else current_flow_run_id()
    moment = as_utc(created) if created is not None else utc_now()
    with collector_paused():
        return _construct_all(model, version, keys, inputs, outputs, files, tag_list, run_id, moment, warnings)


def _construct_all(model: str, version: str, keys: Sequence[str], inputs: Sequence[dict[str, Any]],
                   outputs: Sequence[dict[str, Any]], files: Any, tags: list[str], run_id: Any, moment: datetime,
                   warnings: Optional[Sequence[list[str]]] = None) -> list[Result]:
    from lume_prefect.results.codec import encode_values, plain_float_rows

    # rows of plain floats (a surrogate's points and outputs) are stored as they are: checked
    # once per column here, not value by value in encode_values
    plain_inputs, plain_outputs = plain_float_rows(inputs), plain_float_rows(outputs)
    no_blobs: tuple[bytes, ...] = ()
    # what Result.model_construct does, less its per-call walk over the fields (aliases,
    # defaults): every field is given here, in declaration order, so the instance is the same
    new, set_attribute = object.__new__, object.__setattr__
    names = tuple(Result.model_fields)
    results = []
    no_files: list[Any] = []
    for i, (key, values, outcome) in enumerate(zip(keys, inputs, outputs)):
        if plain_inputs and plain_outputs:
            stored = (dict(values), dict(outcome), no_blobs)
        else:
            blobs: list[bytes] = []
            stored = (
                dict(values) if plain_inputs else encode_values(values, "inputs", blobs, allow_nonfinite=False),
                encode_values(outcome, "outputs", blobs, allow_nonfinite=True),
                tuple(blobs),
            )
        result = new(Result)
        set_attribute(result, "__dict__", {
            "model": model, "version": version, "inputs": values, "outputs": outcome, "files": files[i] if files else no_files,
            "tags": tags, "flow_run_id": run_id, "created": moment, "warnings": warnings[i] if warnings else no_files,
        })
        set_attribute(result, "__pydantic_fields_set__", set(names))
        set_attribute(result, "__pydantic_extra__", None)
        set_attribute(result, "__pydantic_private__", {"_key": key, "_stored": stored})
        results.append(result)
    return results


def flatten(values: dict[str, Any], prefix: str, into: dict[str, Any]) -> dict[str, Any]:
    """Nested dicts become dotted names; every other value (arrays too) is one cell."""
    for name, value in values.items():
        if type(value) is dict and value:
            flatten(value, f"{prefix}.{name}", into)
        else:
            into[f"{prefix}.{name}"] = value
    return into


def result_rows(results: Iterable[Result]) -> tuple[list[dict[str, Any]], list[str]]:
    """One row per result (key, model, version, created, flow_run_id, tags, files, inputs.*,
    outputs.*; a row lacks the columns its result has no value for) and the columns, in order:
    a DataFrame's rows without pandas, which costs a short listing more than its query."""
    rows = []
    for result in results:
        row: dict[str, Any] = {
            "key": result.key,
            "model": result.model,
            "version": result.version,
            "created": result.created,
            "flow_run_id": str(result.flow_run_id) if result.flow_run_id else None,
            "tags": list(result.tags),
            "files": [ref.url or ref.path for ref in result.files],
        }
        flatten(result.inputs, "inputs", row)
        flatten(result.outputs, "outputs", row)
        rows.append(row)
    seen = dict.fromkeys(column for row in rows for column in row)
    return rows, BASE_COLUMNS + [c for c in seen if c.startswith("inputs.")] + [c for c in seen if c.startswith("outputs.")]


def results_to_dataframe(results: Iterable[Result]) -> pandas.DataFrame:
    """One row per result: key, model, version, created, flow_run_id, tags, files, inputs.*, outputs.*."""
    import pandas

    rows, columns = result_rows(results)
    if not rows:
        return pandas.DataFrame(columns=BASE_COLUMNS)
    return pandas.DataFrame.from_records(rows)[columns]
