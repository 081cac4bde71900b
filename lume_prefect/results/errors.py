"""Errors of the results store. Each message names the key, field or value at fault."""

from __future__ import annotations

from collections.abc import Sequence

from lume_prefect.core.errors import LumeError


class ResultsError(LumeError):
    """Base class of the results store's errors."""


class InvalidResultValue(ResultsError, ValueError):
    """A value in a result's inputs or outputs cannot be stored (or keyed) faithfully."""

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(f"{field}: {message}")


class InvalidQuery(ResultsError, ValueError):
    """A query argument (``since``, ``inputs``, ``limit`` ...) has the wrong type or value."""

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(f"{field}: {message}")


class DuplicateResult(ResultsError):
    """A result with the same key is already stored (found by the store's unique index)."""

    def __init__(self, key: str, model: str | None = None, others: Sequence[str] = ()):
        self.key = key
        self.keys = [key, *others]
        what = f" of model {model!r}" if model else ""
        more = f" (and {len(others)} more in this batch)" if others else ""
        super().__init__(
            f"a result{what} with key {key} is already stored{more}; "
            "pass on_duplicate='skip' to keep the stored one or 'replace' to overwrite it"
        )


class ResultNotFound(ResultsError, LookupError):
    """No result is stored under a key."""

    def __init__(self, key: str, where: str):
        self.key = key
        super().__init__(f"no result with key {key!r} in {where}")


class AmbiguousKey(ResultsError, LookupError):
    """A key prefix matches more than one stored result."""

    def __init__(self, prefix: str, where: str, matches: Sequence[str] = ()):
        self.prefix, self.where, self.matches = prefix, where, list(matches)
        shown = ", ".join(m[:16] for m in self.matches)
        super().__init__(f"key {prefix!r} is ambiguous in {where}: it begins {shown} and more; give more of its digits")


class UnsupportedBackend(ResultsError, ValueError):
    """The store's URL names a database the results store does not support."""
