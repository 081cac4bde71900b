"""MongoResultsStore: results as documents in a MongoDB collection through pymongo.

One document per result: ``key`` under a unique index (created, with the query indexes, on
first use), inputs/outputs as nested documents (so ``inputs.x`` is queried natively) and the
result's arrays and DataFrames as a ``blobs`` array of BSON binaries (``.npy``/Parquet bytes).

All-or-nothing without transactions: a standalone MongoDB (and the wire-compatible servers
this project is tested against) has no multi-document transactions, so ``insert_many`` with
``on_duplicate="error"`` writes the batch in order and, when the unique index refuses a
document, deletes the ones this call had inserted before raising DuplicateResult. Another
client reading at that instant may briefly see those documents. Writes refused as a transient
WriteConflict (code 112) are retried with backoff (tenacity); documents carry ``_id``s made by this
client, so a retried or compensated batch touches only its own documents.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar
from uuid import UUID

import tenacity
from pydantic import SecretStr
from bson.int64 import Int64
from pymongo.errors import AutoReconnect, BulkWriteError, DocumentTooLarge, OperationFailure, ServerSelectionTimeoutError

from lume_prefect.core.jsonfloats import tagged_texts
from lume_prefect.files.fileref import FileRef
from lume_prefect.results.codec import TAG, read_as_int
from lume_prefect.results.errors import DuplicateResult, ResultTooDeep, ResultTooLarge
from lume_prefect.results.result import Result
from lume_prefect.results.store import OnDuplicate, Query, ResultsStore, check_key, prepare_batch

T = TypeVar("T")
DUPLICATE_KEY = 11000
# WriteConflict: a busy server (briskdb under concurrent writers) asks the client to try again.
# Retrying after one, or after a connection lost mid-command, is safe here: inserts carry
# client-made _ids (a retry finds its own earlier write), replaces and deletes are idempotent.
TRANSIENT = (112,)
RETRY_SECONDS = 30.0  # a busy server under many writers, or a short outage; then the error is raised
PROJECTION = {"_id": 0}
# MongoDB keeps documents nested at most 100 levels; the document itself is one of them
MAX_DEPTH = 100
VALUE_DEPTH = MAX_DEPTH - 1
read_as_int(Int64)  # pymongo reads integers beyond 32 bits as bson.Int64: a result gives back int


def _retryable(exc: BaseException) -> bool:
    """A write conflict, a connection lost mid-command (not: no server at all), or a bulk write
    whose refused documents were refused only for a conflict or a duplicate key (the callers
    drop what is done, or decide about duplicates, before trying again)."""
    if isinstance(exc, BulkWriteError):
        errors = exc.details.get("writeErrors") or []
        return bool(errors) and all(e.get("code") in (DUPLICATE_KEY, *TRANSIENT) for e in errors)
    if isinstance(exc, AutoReconnect):
        return not isinstance(exc, ServerSelectionTimeoutError)
    return isinstance(exc, OperationFailure) and exc.code in TRANSIENT


def _attempts() -> tenacity.Retrying:
    """Attempts of what is retryable for up to RETRY_SECONDS, backing off 10 ms, 20 ms, ... 0.5 s
    with jitter (writers that conflicted do not meet again in step); the last error is raised as it is."""
    return tenacity.Retrying(
        stop=tenacity.stop_after_delay(RETRY_SECONDS),
        wait=tenacity.wait_exponential(multiplier=0.01, max=0.5) + tenacity.wait_random(0, 0.02),
        retry=tenacity.retry_if_exception(_retryable),
        reraise=True,
    )


class MongoResultsStore(ResultsStore):
    """Results in a MongoDB collection.

    Args:
        url: a MongoDB connection string (``mongodb://user:pw@host:27017``), kept secret:
            it is never shown in reprs, logs or errors.
        database: the database name.
        collection: the collection name (default ``results``).
        client_options: further ``pymongo.MongoClient`` keyword arguments
            (e.g. ``serverSelectionTimeoutMS``).

    Examples:
        ```python
        from pydantic import SecretStr
from pymongo.errors import AutoReconnect, OperationFailure, ServerSelectionTimeoutError
        from lume_prefect.results import MongoResultsStore

        store = MongoResultsStore(SecretStr("mongodb://lume:pw@mongo:27017"), database="lume")
        store.insert(result, on_duplicate="skip")
        recent = store.find(model="injector", tags=["scan-7"], limit=10)
        ```
    """

    def __init__(
        self,
        url: SecretStr | str,
        database: str,
        collection: str = "results",
        *,
        client_options: dict[str, Any] | None = None,
    ):
        if not isinstance(database, str) or not database:
            raise ValueError(f"database must be a non-empty str, got {database!r}")
        if not isinstance(collection, str) or not collection:
            raise ValueError(f"collection must be a non-empty str, got {collection!r}")
        self._url = url if isinstance(url, SecretStr) else SecretStr(url)
        self.database_name = database
        self.collection_name = collection
        self._client_options = dict(client_options or {})
        self._client: Any = None
        self._collection: Any = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"MongoResultsStore(database={self.database_name!r}, collection={self.collection_name!r})"

    # ---- connection and indexes ------------------------------------------------------

    @property
    def collection(self) -> Any:
        """The pymongo collection; connects and creates the indexes on first use."""
        if self._collection is None:
            with self._lock:
                if self._collection is None:
                    import pymongo

                    options = {"tz_aware": True, "uuidRepresentation": "standard", **self._client_options}
                    client = pymongo.MongoClient(self._url.get_secret_value(), **options)
                    collection = client[self.database_name][self.collection_name]
                    _ensure_indexes(collection)
                    self._client, self._collection = client, collection
        return self._collection

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = self._collection = None

    # ---- writing -------------------------------------------------------------------

    def insert_many(self, results: Sequence[Result], on_duplicate: OnDuplicate = "error") -> list[str]:
        batch, keys = prepare_batch(results, on_duplicate)
        if not batch:
            return keys
        documents = [_document(result) for result in batch]
        for document in documents:  # before anything is sent: the server would drop the connection
            depth = max(_depth(document["inputs"], VALUE_DEPTH), _depth(document["outputs"], VALUE_DEPTH))
            if depth > VALUE_DEPTH:
                raise ResultTooDeep(document["key"], document["model"], depth, VALUE_DEPTH, f"MongoDB ({self!r})")
        try:
            if on_duplicate == "error":
                self._insert_all_or_nothing(batch, documents)
            elif on_duplicate == "skip":
                self._insert_skipping_stored(documents)
            else:
                self._replace(documents)
        except DocumentTooLarge:
            raise self._too_large(documents) from None
        return keys

    def _too_large(self, documents: list[dict[str, Any]]) -> ResultTooLarge:
        """The error for the first document over the server's size limit, once the documents
        this batch inserted are removed (pymongo refuses a document when it comes to send it)."""
        import bson

        ids = [doc["_id"] for doc in documents]
        _retrying(lambda: self.collection.delete_many({"_id": {"$in": ids}}))
        limit = _max_bson_size(self.collection)
        for document in documents:
            size = len(bson.encode(document))
            if size > limit:
                return ResultTooLarge(document["key"], document["model"], size, limit, f"MongoDB ({self!r})")
        return ResultTooLarge(documents[0]["key"], documents[0]["model"], limit + 1, limit, f"MongoDB ({self!r})")

    def _insert_all_or_nothing(self, batch: list[Result], documents: list[dict[str, Any]]) -> None:
        pending, maybe_written = documents, False
        try:
            for attempt in _attempts():
                with attempt:
                    try:
                        self.collection.insert_many(pending, ordered=True)
                        return
                    except BulkWriteError as exc:
                        # ordered: the first nInserted of ``pending`` were written, then one failed
                        written = exc.details.get("nInserted", 0)
                        maybe_written = maybe_written or written > 0
                        error = (exc.details.get("writeErrors") or [{}])[0]
                        failed = pending[written]
                        pending = pending[written:]
                        if error.get("code") == DUPLICATE_KEY:
                            if not (maybe_written and self._written_by_us(failed)):
                                raise DuplicateResult(failed["key"], failed["model"]) from None
                            pending = pending[1:]  # an attempt that reported failure had written it
                        if pending:
                            raise
                        return
                    except (OperationFailure, AutoReconnect):
                        maybe_written = True  # a failed command (or lost connection) may have written part
                        raise
        except BaseException:
            if maybe_written:
                # every _id was made by this call, so this removes exactly what it wrote
                ids = [doc["_id"] for doc in documents]
                _retrying(lambda: self.collection.delete_many({"_id": {"$in": ids}}))
            raise

    def _written_by_us(self, document: dict[str, Any]) -> bool:
        found = _retrying(lambda: self.collection.find_one({"key": document["key"], "_id": document["_id"]}, {"_id": 1}))
        return found is not None

    def _insert_skipping_stored(self, documents: list[dict[str, Any]]) -> None:
        pending = documents
        for attempt in _attempts():
            with attempt:
                try:
                    self.collection.insert_many(pending, ordered=False)
                except BulkWriteError as exc:
                    again = [e for e in exc.details.get("writeErrors", []) if e.get("code") != DUPLICATE_KEY]
                    if again:  # what is left after the duplicates, which are skipped
                        pending = [pending[e["index"]] for e in again]
                        raise

    def _replace(self, documents: list[dict[str, Any]]) -> None:
        from pymongo import ReplaceOne

        requests = [ReplaceOne({"key": doc["key"]}, {k: v for k, v in doc.items() if k != "_id"}, upsert=True) for doc in documents]
        for attempt in _attempts():
            with attempt:
                try:
                    self.collection.bulk_write(requests, ordered=False)
                except BulkWriteError as exc:
                    # two upserts of one new key racing: the loser retries and then replaces
                    requests = [requests[e["index"]] for e in exc.details.get("writeErrors", [])]
                    raise

    def delete(self, key: str) -> bool:
        check_key(key)
        return _retrying(lambda: self.collection.delete_one({"key": key})).deleted_count > 0

    # ---- reading ---------------------------------------------------------------------

    def get(self, key: str) -> Result | None:
        check_key(key)
        document = _retrying(lambda: self.collection.find_one({"key": key}, PROJECTION))
        return None if document is None else _result(document)

    def _keys_between(self, low: str, high: str, limit: int) -> list[str]:
        def read() -> list[str]:
            cursor = self.collection.find({"key": {"$gte": low, "$lt": high}}, {"key": 1, "_id": 0}).sort("key", 1).limit(limit)
            return [document["key"] for document in cursor]

        return _retrying(read)

    def _find(self, query: Query) -> list[Result]:
        if query.limit == 0:
            return []
        direction = -1 if query.newest_first else 1

        def read() -> list[dict[str, Any]]:
            cursor = self.collection.find(_filter(query), PROJECTION).sort([("created", direction), ("_id", direction)])
            return list(cursor.limit(query.limit) if query.limit is not None else cursor)

        return [_result(document) for document in _retrying(read)]

    def _count(self, query: Query) -> int:
        return _retrying(lambda: self.collection.count_documents(_filter(query)))


def _retrying(call: Callable[[], T]) -> T:
    """``call()``, tried again while the server answers with a transient error (see ``_retryable``)."""
    return _attempts()(call)


def _ensure_indexes(collection: Any) -> None:
    from pymongo import ASCENDING, DESCENDING

    indexes = [
        ([("key", ASCENDING)], {"unique": True, "name": "key_unique"}),
        ([("model", ASCENDING), ("version", ASCENDING), ("created", DESCENDING)], {"name": "model_version_created"}),
        ([("created", DESCENDING)], {"name": "created"}),
        ([("tags", ASCENDING)], {"name": "tags"}),
        ([("flow_run_id", ASCENDING)], {"name": "flow_run_id"}),
    ]
    for keys, options in indexes:  # idempotent: an existing identical index is left as it is
        _retrying(lambda: collection.create_index(keys, **options))


def _filter(query: Query) -> dict[str, Any]:
    conditions: list[dict[str, Any]] = []
    if query.model is not None:
        conditions.append({"model": query.model})
    if query.version is not None:
        conditions.append({"version": query.version})
    created: dict[str, Any] = {}
    if query.since is not None:
        created["$gte"] = query.since
    if query.until is not None:
        created["$lt"] = query.until
    if created:
        conditions.append({"created": created})
    for path, value in query.inputs:
        field = "inputs." + ".".join(path)
        if value is None or isinstance(value, str):
            conditions.append({field: value})
        else:  # a plain number/bool, a tagged NumPy scalar holding it, or an equal float stored tagged (1e16 and up, -0.0)
            alternatives = [{field: value}, {f"{field}.{TAG}": "scalar", f"{field}.value": value}]
            alternatives += [{f"{field}.{TAG}": {"$in": ["float", "scalar"]}, f"{field}.value": text} for text in tagged_texts(value)]
            conditions.append({"$or": alternatives})
    if query.tags:
        conditions.append({"tags": {"$all": list(query.tags)}})
    if query.keys:
        conditions.append({"key": {"$in": list(query.keys)}})  # the unique index on key answers it
    if not conditions:
        return {}
    return conditions[0] if len(conditions) == 1 else {"$and": conditions}


def _max_bson_size(collection: Any) -> int:
    hello = collection.database.client.admin.command("hello")
    return int(hello.get("maxBsonObjectSize", 16 * 2**20))


def _depth(tree: Any, limit: int) -> int:
    """How deep dicts and lists nest in ``tree`` (a dict is one level); stops past ``limit``."""
    deepest = 1
    for value in tree.values() if type(tree) is dict else tree:
        if type(value) is dict or type(value) is list:
            deepest = max(deepest, 1 + _depth(value, limit - 1))
            if deepest > limit:
                return deepest
    return deepest


def _document(result: Result) -> dict[str, Any]:
    from bson import Binary, ObjectId

    inputs, outputs, blobs = result.stored_form()
    return {
        "_id": ObjectId(),  # made here, so a failed batch knows exactly which documents are its own
        "key": result.key,
        "model": result.model,
        "version": result.version,
        "created": result.created,
        "flow_run_id": str(result.flow_run_id) if result.flow_run_id else None,
        "tags": result.tags,
        "inputs": inputs,
        "outputs": outputs,
        "files": [ref.model_dump(mode="json") for ref in result.files],
        "blobs": [Binary(blob) for blob in blobs],
        **({"warnings": result.warnings} if result.warnings else {}),
    }


def _result(document: dict[str, Any]) -> Result:
    return Result.restore(
        key=document["key"],
        inputs_tree=document.get("inputs") or {},
        outputs_tree=document.get("outputs") or {},
        blobs=[bytes(blob) for blob in document.get("blobs") or []],
        model=document["model"],
        version=document["version"],
        created=document["created"],
        flow_run_id=UUID(document["flow_run_id"]) if document.get("flow_run_id") else None,
        tags=list(document.get("tags") or []),
        files=[FileRef.model_validate(ref) for ref in document.get("files") or []],
        warnings=list(document.get("warnings") or []),
    )
