"""Errors of the file service. Each message names the path, block or value at fault."""

from __future__ import annotations

from lume_prefect.core.errors import LumeError


class FilesError(LumeError):
    """Base class of the file service's errors."""


class PathOutsideRoot(FilesError, ValueError):
    """A path resolves outside the root directory of a file block."""

    def __init__(self, path: str, root: str):
        self.path, self.root = path, root
        super().__init__(f"path {path!r} is outside the root {root!r}")


class UnknownSerializer(FilesError, ValueError):
    """No serializer is registered under a name, or for a file extension."""

    def __init__(self, what: str, known_names: list[str], known_extensions: list[str]):
        self.known_names = known_names
        self.known_extensions = known_extensions
        super().__init__(
            f"{what}; known serializers: {', '.join(known_names)}; "
            f"known extensions: {', '.join(known_extensions)}"
        )


class ChecksumMismatch(FilesError, OSError):
    """A file no longer has the SHA-256 recorded in its FileRef."""

    def __init__(self, location: str, expected: str, actual: str):
        self.location, self.expected, self.actual = location, expected, actual
        super().__init__(
            f"{location} changed since it was written: sha256 {actual} != recorded {expected}"
        )
