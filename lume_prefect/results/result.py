"""Result: one model run's inputs, outputs and files, with the key that deduplicates it."""

from __future__ import annotations

import functools
import re
import sys
import time
from datetime import datetime, timezone
from typing import Any, Optional
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from lume_prefect.files.fileref import FileRef
from lume_prefect.results.codec import TOO_DEEP, decode_values, encode_values, result_key
from lume_prefect.results.errors import InvalidResultValue


_run_contexts: tuple[Any, Any] | None = None


def current_flow_run_id() -> UUID | None:
    """The id of the Prefect flow run this code runs in (also from inside its tasks), else None.

    Prefect is only consulted when it is already imported: outside Prefect there is no run.
    """
    if "prefect" not in sys.modules:
        return None
    global _run_contexts
    if _run_contexts is None:  # imported once: an import statement costs more than the lookups
        from prefect.context import FlowRunContext, TaskRunContext

        _run_contexts = (FlowRunContext, TaskRunContext)
    FlowRunContext, TaskRunContext = _run_contexts
    flow_context = FlowRunContext.get()
    if flow_context is not None and flow_context.flow_run is not None:
        return flow_context.flow_run.id
    task_context = TaskRunContext.get()
    if task_context is not None:
        return task_context.task_run.flow_run_id
    return None


def utc_now() -> datetime:
    # as_utc(datetime.now(timezone.utc)) in a third of the time: whole milliseconds (rounded
    # down, as as_utc does) of the same clock; a float of milliseconds / 1000 is always
    # within a microsecond of the exact value, which fromtimestamp rounds to
    return datetime.fromtimestamp(time.time_ns() // 1_000_000 / 1000, timezone.utc)


def storable_text(field: str, text: str) -> str:
    """``text`` if every database stores it (no NUL, no lone surrogate), else InvalidResultValue naming ``field``."""
    if "\x00" in text:
        raise InvalidResultValue(field, f"contains a NUL character (\\x00), which the databases cannot store: {text!r}")
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as error:
            raise InvalidResultValue(field, f"is not valid Unicode: lone surrogate at index {error.start} of {text!r}") from None
    return text


@functools.lru_cache(maxsize=1024)
def pep440(version: str) -> str:
    """``version`` if it is a PEP 440 version (as the registry requires), else InvalidResultValue."""
    from packaging.version import InvalidVersion, Version

    storable_text("version", version)
    try:
        Version(version)
    except InvalidVersion:
        raise InvalidResultValue("version", f"{version!r} is not a PEP 440 version (e.g. 1.2.0)") from None
    return version


def as_utc(value: datetime, field: str = "created") -> datetime:
    """``value`` in UTC with millisecond precision (what every store keeps); naive means UTC."""
    try:
        value = value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
    except OverflowError:  # 9999-12-31 23:59 at UTC-14 is in the year 10000 in UTC
        raise InvalidResultValue(field, f"{value.isoformat()} is outside the dates Python can hold once converted to UTC") from None
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


# The registry's model-name characters (core.names) with letters and digits of any script, up to
# the store's 255-character column: results of models never registered (a "modèle") are kept,
# but not a name no command line or file path could carry (spaces, '/', emoji, control characters).
_RESULT_MODEL_NAME = re.compile(r"[^\W_][\w.-]{0,254}")
RESULT_MODEL_NAME_RULE = "use 1-255 letters (of any script), digits, '.', '_' or '-', starting with a letter or digit"


def result_model_name(model: Any) -> str:
    """``model`` if it is a model name the results store accepts, else InvalidResultValue."""
    if not isinstance(model, str) or not _RESULT_MODEL_NAME.fullmatch(model):
        raise InvalidResultValue("model", f"{model!r} is not a model name: {RESULT_MODEL_NAME_RULE}")
    return model


def storable_tags(tags: Any) -> list[str]:
    """``tags`` (each a non-empty storable str of at most 255 characters), without repeats."""
    for i, tag in enumerate(tags):
        if not isinstance(tag, str) or not tag or len(tag) > 255:
            raise ValueError(f"tags[{i}] must be a non-empty str of at most 255 characters, got {tag!r}")
        storable_text(f"tags[{i}]", tag)
    return list(dict.fromkeys(tags))


class Result(BaseModel):
    """One run of a model: what went in, what came out, which files it wrote.

    ``inputs`` and ``outputs`` map names to None, bool, int, float, str, lists, tuples,
    nested dicts, NumPy arrays and scalars, and pandas DataFrames; every store gives them
    back with the same types, dtypes and shapes. NaN and infinities are refused as scalar
    inputs (they would make the key useless) and kept in outputs. A value that cannot be
    stored (an open file, a function) is refused here, naming its field, before anything
    is written anywhere.

    ``key`` is the SHA-256 of (model, version, inputs), independent of dict key order and
    of how a number is spelled (``1`` and ``1.0`` are the same input); two runs with the
    same key are the same computation, which the stores keep only once.

    Treat a Result as immutable: its key and stored form are computed when it is created.

    Examples:
        Record a run and store it:
        ```python
        import numpy as np
        from lume_prefect.results import Result, SQLResultsStore

        result = Result(
            model="injector", version="1.2.0",
            inputs={"charge_pC": 250, "solenoid": {"b_T": 0.21}},
            outputs={"emittance": 1.1e-6, "xs": np.linspace(0, 1, 100)},
            tags=["scan-7"],
        )
        store = SQLResultsStore()            # SQLite file in the user's data directory
        store.insert(result, on_duplicate="skip")
        assert store.get(result.key).outputs["xs"].shape == (100,)
        ```
    """

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    # Not the registry's model-name rule (core.names): the store also keeps results of models
    # that were never registered; 255 is its column.
    model: str = Field(min_length=1, max_length=255, description="Name of the model that produced the result.")
    version: str = Field(min_length=1, max_length=255, description="Version of the model (as registered).")
    inputs: dict[str, Any] = Field(default_factory=dict, description="The model's inputs, by name.")
    outputs: dict[str, Any] = Field(default_factory=dict, description="The model's outputs, by name.")
    files: list[FileRef] = Field(default_factory=list, description="Files the run wrote, as FileRefs of file blocks.")
    tags: list[str] = Field(default_factory=list, description="Labels to find the result by (a scan, a campaign).")
    flow_run_id: Optional[UUID] = Field(
        default_factory=current_flow_run_id,
        description="The Prefect flow run that produced the result; filled in automatically inside a run.",
    )
    created: datetime = Field(
        default_factory=utc_now, description="When the result was recorded (UTC, millisecond precision)."
    )
    warnings: list[str] = Field(
        default_factory=list,
        description="What was doubtful about the run, one message each: an input outside its range that the model's validation setting (warn) let run.",
    )

    _key: str = PrivateAttr("")
    # (inputs tree, outputs tree, blobs); blobs as a tuple because most Results have none and
    # the empty tuple is shared, where an empty list would be one more object per Result for
    # the garbage collector to walk (stored_form() still hands out a list)
    _stored: tuple[dict[str, Any], dict[str, Any], tuple[bytes, ...]] = PrivateAttr()

    @field_validator("tags")
    @classmethod
    def _check_tags(cls, tags: list[str]) -> list[str]:
        return storable_tags(tags)

    @field_validator("model")
    @classmethod
    def _check_model(cls, model: str) -> str:
        storable_text("model", model)
        return result_model_name(model)

    @field_validator("version")
    @classmethod
    def _check_version(cls, version: str) -> str:
        return pep440(version)

    @field_validator("created")
    @classmethod
    def _utc_milliseconds(cls, created: datetime) -> datetime:
        return as_utc(created)

    @model_validator(mode="after")
    def _encode(self) -> Result:
        blobs: list[bytes] = []
        inputs = encode_values(self.inputs, "inputs", blobs, allow_nonfinite=False)
        outputs = encode_values(self.outputs, "outputs", blobs, allow_nonfinite=True)
        self._stored = (inputs, outputs, tuple(blobs))
        try:
            self._key = result_key(self.model, self.version, self.inputs)
        except RecursionError:
            raise InvalidResultValue("inputs", TOO_DEEP) from None
        return self

    @property
    def key(self) -> str:
        """SHA-256 (64 hex digits) of (model, version, inputs): the identity of the computation."""
        return self.__pydantic_private__["_key"]  # direct: pydantic's private-attribute lookup is slow

    def stored_form(self) -> tuple[dict[str, Any], dict[str, Any], list[bytes]]:
        """(inputs tree, outputs tree, blobs) as the stores keep them (see ``codec``)."""
        inputs, outputs, blobs = self.__pydantic_private__["_stored"]
        return inputs, outputs, list(blobs)

    @classmethod
    def restore(
        cls,
        *,
        key: str,
        inputs_tree: dict[str, Any],
        outputs_tree: dict[str, Any],
        blobs: list[bytes],
        **fields: Any,
    ) -> Result:
        """A Result as a store read it back: trusted fields, no re-validation or re-hashing."""
        result = cls.model_construct(
            inputs=decode_values(inputs_tree, blobs), outputs=decode_values(outputs_tree, blobs), **fields
        )
        result._key = key
        result._stored = (inputs_tree or {}, outputs_tree or {}, tuple(blobs))
        return result

    def model_copy(self, *, update: dict[str, Any] | None = None, deep: bool = False) -> Result:
        """A copy; with ``update`` the copy is validated and keyed afresh."""
        if update:
            return type(self)(**{**{name: getattr(self, name) for name in type(self).model_fields}, **update})
        return super().model_copy(deep=deep)

    def __eq__(self, other: object) -> bool:
        # Compared by stored form: arrays inside dicts have no usable ==.
        if not isinstance(other, Result):
            return NotImplemented
        return (
            self._key == other._key
            and self.stored_form() == other.stored_form()
            and (self.files, self.tags, self.flow_run_id, self.created)
            == (other.files, other.tags, other.flow_run_id, other.created)
        )

    def __hash__(self) -> int:
        return hash(self._key)

    def __repr__(self) -> str:
        return f"Result(model={self.model!r}, version={self.version!r}, key={self._key[:12]}..., created={self.created.isoformat()})"
