"""Errors of the model registry. Each message names the model, version, alias or field at fault.

Every error is a ``LumeError`` (so it pickles with its constructor's arguments, as Prefect
does with task failures) and subclasses the builtin that fits (``LookupError``, ``ValueError``) so that
callers who do not know this module can still catch it sensibly.
"""

from __future__ import annotations

from typing import Any

from lume_prefect.core.errors import LumeError

UPGRADE_COMMAND = "lume-prefect registry upgrade"


class RegistryError(LumeError):
    """Base class of every model-registry error."""


class ModelNotFound(RegistryError, LookupError):
    """No model is registered under this name."""

    def __init__(self, model: str):
        self.model = model
        super().__init__(f"model {model!r} is not registered")


class VersionNotFound(RegistryError, LookupError):
    """The model has no such version."""

    def __init__(self, model: str, version: str):
        self.model, self.version = model, version
        super().__init__(f"model {model!r} has no version {version!r}")


class NoVersions(VersionNotFound):
    """The model has no version at all (asked for its latest)."""

    def __init__(self, model: str):
        self.model, self.version = model, "latest"
        RegistryError.__init__(self, f"model {model!r} has no registered version")


class AliasNotFound(RegistryError, LookupError):
    """The model has no such alias."""

    def __init__(self, model: str, alias: str):
        self.model, self.alias = model, alias
        super().__init__(f"model {model!r} has no alias {alias!r}")


class NoLiveVersion(AliasNotFound):
    """No version of the model has been promoted to live."""

    def __init__(self, model: str):
        self.model, self.alias = model, "live"
        RegistryError.__init__(
            self, f"model {model!r} has no live version; promote one with promote({model!r}, VERSION)"
        )

    def for_cli(self) -> str:
        return f"model {self.model!r} has no live version; promote one with `lume-prefect models promote {self.model} VERSION`"


class ModelExists(RegistryError):
    """A model of this name is already registered."""

    def __init__(self, model: str):
        self.model = model
        super().__init__(f"model {model!r} is already registered (pass exist_ok=True to reuse it)")

    def for_cli(self) -> str:
        return f"model {self.model!r} is already registered (register a version of it with `lume-prefect models register {self.model} VERSION --source ... --entrypoint ...`)"


class VersionExists(RegistryError):
    """The model already has this version (PEP 440 equal: ``1.0`` and ``1.0.0`` are one version)."""

    def __init__(self, model: str, version: str, existing: str | None = None):
        self.model, self.version, self.existing = model, version, existing or version
        same = "" if self.existing == version else f" (as {self.existing!r}, an equal PEP 440 version)"
        super().__init__(f"model {model!r} already has version {version!r}{same}")


class NothingToRevert(RegistryError):
    """The live alias has no earlier version to go back to."""

    def __init__(self, model: str, alias: str = "live"):
        self.model, self.alias = model, alias
        super().__init__(
            f"model {model!r}: alias {alias!r} has no earlier version to revert to"
        )


class InvalidValue(RegistryError, ValueError):
    """An argument is not acceptable; nothing was written."""

    def __init__(self, field: str, value: Any, reason: str):
        self.field, self.value, self.reason = field, value, reason
        super().__init__(f"invalid {field} {value!r}: {reason}")


class InvalidVersion(InvalidValue):
    """A version string is not a PEP 440 version."""

    def __init__(self, version: Any, model: str | None = None, reason: str | None = None):
        self.model = model
        where = f" for model {model!r}" if model else ""
        reason = reason or "not a PEP 440 version (e.g. 1.0, 2.1.3, 1.0rc1, 1.0.post2, 2024.11.25)"
        InvalidValue.__init__(self, "version", version, reason + where)


class UnknownFilter(InvalidValue):
    """``list_models`` was given a field it cannot filter on."""

    def __init__(self, field: str, known: list[str]):
        self.known = known
        InvalidValue.__init__(self, "filter field", field, f"known filters: {', '.join(known)}")


class SchemaOutdated(RegistryError):
    """The database was created by an older lume-prefect and must be migrated first."""

    def __init__(self, url: str, current: str, head: str):
        self.url, self.current, self.head = url, current, head
        super().__init__(
            (
                f"the registry database {url} is at schema revision {current}, older than this "
                f"lume-prefect ({head}); run `{UPGRADE_COMMAND}` (or ModelRegistry.upgrade())"
            ),
        )


class UnknownSchema(RegistryError):
    """The database holds tables this lume-prefect does not know (newer release, or not a registry)."""

    def __init__(self, url: str, detail: str):
        self.url, self.detail = url, detail
        super().__init__(f"the registry database {url} {detail}")


class InvalidRegistryURL(RegistryError, ValueError):
    """The registry's database URL cannot be used; the message never shows its password."""

    def __init__(self, shown_url: str, reason: str):
        self.shown_url, self.reason = shown_url, reason
        super().__init__(f"registry url {shown_url!r}: {reason}")


class RegistryUnreachable(RegistryError, ConnectionError):
    """The registry's server did not answer within the block's timeout; the URI shown has no password."""

    def __init__(self, shown_uri: str, timeout: float, reason: str):
        self.shown_uri, self.timeout, self.reason = shown_uri, timeout, reason
        super().__init__(f"the model registry at {shown_uri} is unreachable (gave up after {timeout:g} s): {reason}")


class RegistryBusy(RegistryError, TimeoutError):
    """Another client held the model's alias lock for longer than this client would wait."""

    def __init__(self, model: str, waited: float):
        self.model, self.waited = model, waited
        super().__init__(f"model {model!r}: another client kept changing its aliases for {waited:g} s; try again")


class CopyConflict(RegistryError):
    """The target registry's history of a model is not a beginning of the source's: copying would mix two histories."""

    def __init__(self, model: str, detail: str):
        self.model, self.detail = model, detail
        super().__init__(f"model {model!r}: cannot copy, the target's alias history differs from the source's ({detail}); nothing of this model's history was written")
