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


class ResultTooLarge(ResultsError, ValueError):
    """A result's stored document is over its database's size limit (MongoDB: 16 MiB, or what the server says)."""

    def __init__(self, key: str, model: str, size: int, limit: int, where: str):
        self.key, self.model, self.size, self.limit = key, model, size, limit
        super().__init__(
            f"result {key[:12]}... of model {model!r} is {_bytes(size)} stored, over the {_bytes(limit)} "
            f"limit of {where}. Write large arrays, tables and texts through a file block "
            "(files.write) and keep their FileRefs in Result.files"
        )


def _bytes(size: int) -> str:
    return f"{size / 2**20:.1f} MiB" if size >= 2**20 else f"{size / 2**10:.0f} KiB"


class ResultTooDeep(ResultsError, ValueError):
    """A result's values are nested deeper than its database keeps (MongoDB: 100 levels)."""

    def __init__(self, key: str, model: str, depth: int, limit: int, where: str):
        self.key, self.model, self.depth, self.limit = key, model, depth, limit
        super().__init__(
            f"result {key[:12]}... of model {model!r}: its values are nested {depth} levels deep; {where} keeps at most "
            f"{limit}; flatten them, or write them through a file block and keep the FileRef in Result.files"
        )
