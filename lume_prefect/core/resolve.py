"""``resolve(value, kind)``: the one rule by which every task, the CLI and ``models/`` find a
service block.

- a block of the kind is used as given;
- a string is a saved block's name: ``type-slug/name``, or a bare ``name`` looked up among
  the kind's block types (it must match exactly one);
- None is the kind's block of the current services: those a model run set
  (``using_services``), else the ``LumeServices`` block named by ``$LUME_SERVICES``, else
  ``local`` (created on first use with embedded defaults under ``data_dir()``).

Block types are named here by dotted path and imported on first use (like fsspec's
registry), so core imports no service and ``resolve`` costs nothing until it is called.
"""

from __future__ import annotations

import contextvars
import importlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal, Optional

Kind = Literal["files", "registry", "results", "slurm", "services"]

# kind -> (module, block class names); the first class is the one a bare name is tried with first
BLOCK_TYPES: dict[str, tuple[str, tuple[str, ...]]] = {
    "files": ("lume_prefect.files.blocks", ("LocalFiles", "MountedFiles", "S3Files")),
    "registry": ("lume_prefect.registry.blocks", ("ModelRegistry", "MLflowRegistry")),
    "results": ("lume_prefect.results.blocks", ("SQLResults", "MongoResults")),
    "slurm": ("lume_prefect.slurm.blocks", ("SlurmCluster",)),
    "services": ("lume_prefect.services", ("LumeServices",)),
}
_NOUNS = {"files": "file", "registry": "registry", "results": "results", "slurm": "Slurm cluster", "services": "services"}
# what a value of the kind may also be, for isinstance (base classes of the block types)
_BASES: dict[str, tuple[str, str]] = {
    "files": ("lume_prefect.files.blocks", "FileBlock"),
    "results": ("lume_prefect.results.blocks", "ResultsBlock"),
}

_active: contextvars.ContextVar[Optional[Any]] = contextvars.ContextVar("lume_services", default=None)


def block_types(kind: str) -> tuple[type, ...]:
    """The block classes of ``kind`` (imported on first use)."""
    if kind not in BLOCK_TYPES:
        raise ValueError(f"unknown service kind {kind!r}; known: {', '.join(BLOCK_TYPES)}")
    module, names = BLOCK_TYPES[kind]
    loaded = importlib.import_module(module)
    return tuple(getattr(loaded, name) for name in names)


def _accepted(kind: str) -> tuple[type, ...]:
    if kind in _BASES:
        module, name = _BASES[kind]
        return (getattr(importlib.import_module(module), name),)
    return block_types(kind)


@contextmanager
def using_services(services: Any) -> Iterator[Any]:
    """Make ``services`` (a ``LumeServices``) what ``resolve(None, ...)`` finds in this context."""
    token = _active.set(services)
    try:
        yield services
    finally:
        _active.reset(token)


def current_services() -> Any:
    """The services of this context: those set by ``using_services``, else the ``LumeServices``
    named by ``$LUME_SERVICES``, else ``local``."""
    services = _active.get()
    return services if services is not None else _load_services(None)


def _load_services(name: Optional[str]) -> Any:
    # by dotted path, like the block types: LumeServices sits above every service
    return importlib.import_module(BLOCK_TYPES["services"][0]).load_services(name)


def resolve(value: Any, kind: Kind) -> Any:
    """The block of ``kind`` that ``value`` means (see the module docstring)."""
    accepted = _accepted(kind)
    if isinstance(value, accepted):
        return value
    if value is None:
        services = current_services()
        if kind == "services":
            return services
        found = getattr(services, kind)
        if found is None:
            name = services._block_document_name or "the current services"
            raise ValueError(f"{name!r} has no {kind} block; pass one, or add it to the LumeServices block")
        return found
    if not isinstance(value, str) or not value.strip():
        names = " or ".join(cls.__name__ for cls in block_types(kind))
        raise TypeError(f"{kind} must be a {names} block, a saved block's name, or None, got {value!r}")
    name = value.strip()
    if kind == "services":
        return _load_services(name.removeprefix("lume-services/"))
    return load_block(name, kind)


def load_block(name: str, kind: Kind) -> Any:
    """The saved block ``type-slug/name`` or bare ``name`` of ``kind``; a clear error otherwise.

    With no Prefect API configured the block is read from the ephemeral server's database
    (``saved_blocks``), so no temporary server starts only to read it.
    """
    from prefect.blocks.core import Block

    types = block_types(kind)
    if "/" in name:
        slug, _, bare = name.partition("/")
        for cls in types:
            if cls.get_block_type_slug() == slug:
                return _load(cls, bare)
        loaded = Block.load(name, _sync=True)
        if not isinstance(loaded, _accepted(kind)):
            raise TypeError(f"block {name!r} is a {type(loaded).__name__}, not a lume {_NOUNS[kind]} block")
        return loaded
    found = _load_offline(types, name)
    if found is None:
        found = []
        for cls in types:
            try:
                found.append(cls.load(name, _sync=True))
            except ValueError:
                continue
    if len(found) != 1:
        raise not_one_block(kind, name, len(found), [cls.get_block_type_slug() for cls in types])
    return found[0]


def not_one_block(kind: str, name: str, count: int, slugs: list[str]) -> ValueError:
    """The error for a bare ``name`` that names ``count`` (not 1) saved blocks among the kind's types."""
    what = "no" if not count else "more than one"
    return ValueError(f"{what} {_NOUNS[kind]} block named {name!r} among {', '.join(slugs)}" + (f"; use 'type-slug/{name}'" if len(slugs) > 1 else ""))


def no_block(slug: str, name: str) -> ValueError:
    """The error for ``slug/name`` that is not saved (Prefect's words)."""
    return ValueError(f"Unable to find block document named {name} for block type {slug}")


def _load(cls: type, name: str) -> Any:
    """``cls.load(name)``, from the ephemeral database when no API is configured."""
    from lume_prefect.core.saved_blocks import UNKNOWN, load_saved

    saved = load_saved(cls, name)
    if saved is UNKNOWN:
        return cls.load(name, _sync=True)  # type: ignore[attr-defined]
    if saved is None:
        raise no_block(cls.get_block_type_slug(), name)  # type: ignore[attr-defined]
    return saved


def _load_offline(types: tuple[type, ...], name: str) -> Optional[list[Any]]:
    """The saved blocks named ``name`` among ``types`` read without an API; None if that cannot be told."""
    from lume_prefect.core.saved_blocks import UNKNOWN, load_saved

    found = []
    for cls in types:
        saved = load_saved(cls, name)
        if saved is UNKNOWN:
            return None
        if saved is not None:
            found.append(saved)
    return found
