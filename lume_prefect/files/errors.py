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


class CorruptFile(FilesError, ValueError):
    """A file's bytes cannot be read by its serializer (truncated, or not the format it claims)."""

    def __init__(self, block: str, location: str, serializer: str, reason: str):
        self.block, self.location, self.serializer, self.reason = block, location, serializer, reason
        super().__init__(f"{block}: cannot read {location} as {serializer}: {reason}")


class S3Unreachable(FilesError, ConnectionError):
    """An S3 server did not answer within the block's timeouts and attempts."""

    def __init__(self, block: str, endpoint: str, patience: str, reason: str):
        self.block, self.endpoint, self.patience, self.reason = block, endpoint, patience, reason
        within = f" within {patience}" if patience else ""
        self.message = f"{block}: no answer from the S3 server at {endpoint}{within} ({reason})"
        super().__init__(self.message)
        self.errno = self.strerror = self.filename = None  # OSError's __new__ took the arguments for those

    def __str__(self) -> str:
        return self.message


class InvalidFileName(FilesError, ValueError):
    """A path holds a control character (a newline would forge entries in listings)."""

    def __init__(self, path: str, character: str):
        self.path, self.character = path, character
        super().__init__(f"path {path!r} contains the control character {character!r}; file names may not hold control characters")


class CannotSerialize(FilesError, TypeError, ValueError):
    """A serializer cannot write an object (wrong type, or a value its format does not hold)."""

    def __init__(self, block: str, location: str, serializer: str, reason: str):
        self.block, self.location, self.serializer, self.reason = block, location, serializer, reason
        super().__init__(f"{block}: cannot write {location} as {serializer}: {reason}")
