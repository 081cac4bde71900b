"""The stores of the services, built without Prefect where they can be.

A command that only reads or writes a store (``lume-prefect models``, ``registry``,
``results``, ``files``) needs the store -- a ``SQLRegistry``, a ``ResultsStore``, a
``RootedFiles`` -- not its block, and importing Prefect costs such a command most of its
time. ``find`` builds the store the block would build, from the same configuration, by the
rule of ``core.resolve``: the saved block named, else the block of that kind in the services
named (``$LUME_SERVICES``, else ``local``: a saved ``local`` block where one exists, else the
embedded one built from ``data_dir()``). A saved block's data is read from the database of
Prefect's temporary server (``core.saved_blocks``) and validated by the block's settings
class (``files/settings.py``, ``registry/settings.py``, ``results/settings.py``: the block
takes its fields from it), so no field, default or check is written twice.

Prefect is imported, and the block resolved as before, only where this cannot tell: a Prefect
API configured, a block type without a settings class, a saved ``local`` block to re-point
to ``$LUME_PREFECT_HOME`` (which saves it), a database this cannot read.
"""

from __future__ import annotations

import importlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from pydantic import BaseModel

from lume_prefect.core.paths import data_dir
from lume_prefect.core.resolve import BLOCK_TYPES, no_block, not_one_block
from lume_prefect.core.saved_blocks import UNKNOWN, load_document

SERVICES_ENV = "LUME_SERVICES"
DEFAULT_SERVICES = "local"
SERVICES_SLUG = "lume-services"
STORE_KINDS = ("files", "registry", "results")


def services_name(name: Optional[str] = None) -> str:
    """The services block to use: ``name``, else ``$LUME_SERVICES``, else ``local``."""
    return name or os.environ.get(SERVICES_ENV) or DEFAULT_SERVICES


def local_configuration() -> dict[str, tuple[str, dict[str, Any]]]:
    """The embedded ``local`` services, kind -> (block type slug, fields): SQLite registry and
    results, local files, under the data dir."""
    home = data_dir()
    home.mkdir(parents=True, exist_ok=True)
    return {
        "files": ("lume-local-files", {"basepath": str(home / "files")}),
        "registry": ("lume-model-registry", {"url": f"sqlite:///{home / 'registry.db'}"}),
        "results": ("lume-sql-results", {"url": f"sqlite:///{home / 'results.db'}"}),
    }


def no_services(chosen: str) -> ValueError:
    return ValueError(
        f"no LumeServices block named {chosen!r}; create it in the Prefect UI or with "
        f"LumeServices(...).save({chosen!r}), or unset {SERVICES_ENV} to use {DEFAULT_SERVICES!r}"
    )


def local_elsewhere(basepath: Optional[str]) -> bool:
    """Whether a saved ``local`` block's files (at ``basepath``) are elsewhere than ``data_dir()`` says."""
    return basepath is not None and basepath != str(data_dir() / "files")


def warn_local_elsewhere(basepath: str) -> None:
    """Say that the saved ``local`` block is used where it points (``$LUME_PREFECT_HOME`` unset)."""
    logging.getLogger("lume_prefect.services").warning(
        "using the %r services saved earlier, with data under %s (the default is now %s); set LUME_PREFECT_HOME, "
        "or delete the block (prefect block delete lume-services/%s) to re-point it",
        DEFAULT_SERVICES, Path(basepath).parent, data_dir(), DEFAULT_SERVICES,
    )


def settings_types(kind: str) -> dict[str, tuple[str, type[BaseModel]]]:
    """The block types of ``kind`` (``core.resolve.BLOCK_TYPES``) by slug: each block class's
    name and its settings class (``<Block>Settings`` in the service's ``settings`` module)."""
    module, names = BLOCK_TYPES[kind]
    settings = importlib.import_module(f"{module.rpartition('.')[0]}.settings")
    classes = [getattr(settings, f"{name}Settings") for name in names]
    return {cls.type_slug: (name, cls) for name, cls in zip(names, classes)}  # type: ignore[attr-defined]


@dataclass
class Found:
    """A store and what configures it: ``settings`` is the block's settings (the block itself
    when it was loaded through Prefect), ``reference`` the saved block's ``type-slug/name``
    (None for one built from the embedded defaults or nested anonymously)."""

    store: Any
    settings: BaseModel
    type_slug: str
    reference: Optional[str]


def find(kind: str, name: Optional[str] = None, services: Optional[str] = None) -> Found:
    """The store of ``kind`` (files, registry, results): of the saved block ``name``
    (``type-slug/name`` or a bare name) if given, else of the services ``services`` (see the
    module docstring). Errors are ``core.resolve``'s: ValueError or TypeError naming the block."""
    if kind not in STORE_KINDS:
        raise ValueError(f"unknown store kind {kind!r}; known: {', '.join(STORE_KINDS)}")
    found = _named(kind, name) if name is not None else _of_services(kind, services_name(services))
    if found is not UNKNOWN:
        return found
    from lume_prefect.core.resolve import resolve

    block = resolve(name, kind) if name is not None else getattr(resolve(services_name(services), "services"), kind)
    reference = None
    if block._block_document_name and not block._is_anonymous:
        reference = f"{block.get_block_type_slug()}/{block._block_document_name}"
    return Found(block._domain(), block, block.get_block_type_slug(), reference)


def _named(kind: str, name: str) -> Any:
    types = settings_types(kind)
    slug, sep, bare = name.strip().partition("/")
    if not sep:
        slug, bare = "", slug
    elif slug not in types:
        return UNKNOWN  # another block type: Prefect says what it is
    found = []
    for candidate in [slug] if slug else list(types):
        document = load_document(candidate, bare)
        if document is UNKNOWN:
            return UNKNOWN
        if document is not None:
            found.append((candidate, document))
    if slug and not found:
        raise no_block(slug, bare)
    if len(found) != 1:
        raise not_one_block(kind, bare, len(found), list(types))
    candidate, (_, data, _) = found[0]
    return _build(types, candidate, data, bare)


def _of_services(kind: str, chosen: str) -> Any:
    document = load_document(SERVICES_SLUG, chosen)
    if document is UNKNOWN:
        return UNKNOWN
    if document is None:
        if chosen != DEFAULT_SERVICES:
            raise no_services(chosen)
        slug, fields = local_configuration()[kind]
        return _build(settings_types(kind), slug, fields, None)
    _, data, references = document
    nested = references.get(kind, {}).get("block_document", {})
    basepath = (data.get("files") or {}).get("basepath")
    if chosen == DEFAULT_SERVICES and local_elsewhere(basepath):
        if os.environ.get("LUME_PREFECT_HOME"):
            return UNKNOWN  # re-pointed and saved again: Prefect's to do
        warn_local_elsewhere(basepath)
    # a saved nested block is a reference (its type in the reference); an unsaved one is inline, with its type's slug
    fields = data.get(kind) or {}
    slug = nested.get("block_type", {}).get("slug") or fields.get("block_type_slug")
    types = settings_types(kind)
    if slug not in types:
        return UNKNOWN
    return _build(types, slug, fields, None if nested.get("is_anonymous", True) else nested.get("name"))


def _build(types: dict[str, tuple[str, type[BaseModel]]], slug: str, data: dict[str, Any], name: Optional[str]) -> Found:
    class_name, cls = types[slug]
    settings = cls.model_validate(data)
    label = f"{class_name} {name!r}" if name else class_name
    return Found(_store(settings, label), settings, slug, f"{slug}/{name}" if name else None)


def _store(settings: Any, label: str) -> Any:
    return settings.rooted(label) if hasattr(settings, "rooted") else settings.build()
