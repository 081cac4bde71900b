"""Profiles: the block documents of one environment (local, dev, prod), kept as code in git.

A profile file names block documents, their block types and their fields::

    description: The services of the dev cluster.
    blocks:
      dev-registry:                       # the block document's name
        type: lume-model-registry         # its block type slug
        fields:
          url: ${LUME_REGISTRY_URL}       # from the environment, never written in the file
      dev:
        type: lume-services
        fields:
          registry: dev-registry          # a block field names another block of the file
          ...

``${NAME}`` takes the value of environment variable NAME, which must be set and non-empty;
``${NAME:-default}`` falls back to ``default`` when NAME is unset or empty; ``$$`` is a
literal ``$``. A secret field (SecretStr and the like) must take its value from at least
one variable, so that no password is ever committed. Applying a profile validates every
block against its class first, and saves none unless all are valid; referenced blocks are
saved before the blocks that reference them, so the saved documents point at each other as
they do in the file and editing one in the UI changes every environment that uses it.
"""

from __future__ import annotations

import contextlib
import os
import re
import types
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import yaml
from prefect.blocks.core import Block
from pydantic import ValidationError

from lume_prefect.core.errors import LumeError

MASK = "**********"
MAX_PROFILE_BYTES = 1024 * 1024  # a profile is a few dozen lines; anything near this is a mistake
_REFERENCE = re.compile(r"\$\$|\$\{([^}]*)\}|\$\{")
_VARIABLE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?", re.DOTALL)
_BLOCK_NAME = re.compile(r"[a-z0-9-]+")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # a tab is text; a newline ends a line


class ProfileError(LumeError, ValueError):
    """A profile that cannot be applied; ``problems`` holds one line per problem found."""

    def __init__(self, path: Path | str, problems: list[str]) -> None:
        self.path = str(path)
        self.problems = problems
        super().__init__("\n".join(f"{self.path}: {problem}" for problem in problems))


@dataclass
class BlockEntry:
    """One block document of a profile, as written in the file (values not yet substituted)."""

    name: str
    slug: str
    block_class: type[Block]
    fields: dict[str, Any]
    references: dict[str, str] = field(default_factory=dict)  # field -> block of this file

    def secret_fields(self) -> set[str]:
        """This block's own secret fields (a nested block's secrets are that block's)."""
        declared = self.block_class.model_json_schema().get("secret_fields", [])
        own = {name.removesuffix(".*") for name in declared if "." not in name.removesuffix(".*")}
        return own - set(_block_fields(self.block_class))


@dataclass
class Profile:
    """A profile file read and checked for shape: block types known, fields known, references resolvable."""

    path: Path
    description: str
    blocks: dict[str, BlockEntry]  # in saving order: referenced blocks first


def read_profile(path: str | os.PathLike[str]) -> Profile:
    """Read a profile file and check its shape; raise ProfileError listing every problem."""
    path = Path(path)
    _check_readable(path)
    try:
        document = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)  # noqa: S506 (a SafeLoader)
    except (OSError, yaml.YAMLError) as exc:
        raise ProfileError(path, [f"cannot read: {exc}"]) from None
    except UnicodeDecodeError as exc:
        raise ProfileError(path, [f"not UTF-8 text: byte 0x{exc.object[exc.start]:02x} at offset {exc.start} (save the file as UTF-8)"]) from None
    except RecursionError:
        raise ProfileError(path, ["nested too deeply to read (a profile is a few levels deep)"]) from None
    if not isinstance(document, dict) or not isinstance(document.get("blocks"), dict) or not document["blocks"]:
        raise ProfileError(path, ["expected a mapping with a non-empty 'blocks' mapping of block documents"])
    unknown = set(document) - {"description", "blocks"}
    problems = [f"unknown top-level key(s): {', '.join(sorted(unknown))} (expected description, blocks)"] if unknown else []
    entries: dict[str, BlockEntry] = {}
    for name, spec in document["blocks"].items():
        if not isinstance(name, str) or not _BLOCK_NAME.fullmatch(name):
            problems.append(f"block {name!r}: a block document's name is lowercase letters, digits and dashes (Prefect's rule), e.g. dev-registry")
            continue
        entry = _entry(str(name), spec, problems)
        if entry is not None:
            entries[entry.name] = entry
    names = {str(name) for name in document["blocks"]}
    for entry in entries.values():
        for field_name, target in entry.references.items():
            if target not in names:
                problems.append(f"block {entry.name!r}, field {field_name!r}: no block named {target!r} in this file")
    if problems:
        raise ProfileError(path, problems)
    return Profile(path, str(document.get("description") or ""), _saving_order(path, entries))


def _check_readable(path: Path) -> None:
    """Refuse what is not a profile before reading it: a device, a pipe, a huge file."""
    import stat

    try:
        info = path.stat()
    except OSError as exc:
        raise ProfileError(path, [f"cannot read: {exc.strerror or exc}"]) from None
    if not stat.S_ISREG(info.st_mode):
        raise ProfileError(path, ["not a regular file (a profile is a YAML file)"])
    if info.st_size > MAX_PROFILE_BYTES:
        raise ProfileError(path, [f"{info.st_size} bytes is too large for a profile (at most {MAX_PROFILE_BYTES})"])


def build_blocks(profile: Profile, environ: Optional[Mapping[str, str]] = None) -> dict[str, Block]:
    """Substitute the environment and validate every block; raise ProfileError listing every problem."""
    environ = os.environ if environ is None else environ
    problems: list[str] = []
    built: dict[str, Block] = {}
    for entry in profile.blocks.values():
        values: dict[str, Any] = {}
        reported: set[str] = set()  # fields with a problem already: no follow-on errors for them
        secrets = entry.secret_fields()
        for field_name, raw in entry.fields.items():
            where = f"block {entry.name!r}, field {field_name!r}"
            before = len(problems)
            if field_name in entry.references:
                target = built.get(entry.references[field_name])
                accepted = _block_fields(entry.block_class)[field_name]
                if target is None:
                    reported.add(field_name)  # the referenced block's own problems are reported
                elif not isinstance(target, accepted):
                    slugs = ", ".join(c.get_block_type_slug() for c in accepted)
                    problems.append(f"{where}: {entry.references[field_name]!r} is a {target.get_block_type_slug()}, expected {slugs}")
                else:
                    values[field_name] = target
            elif field_name in secrets and not _all_from_environment(raw):
                problems.append(
                    f"{where} is secret: take it from the environment, e.g. ${{VARIABLE}}, never write it in the file "
                    "(nor around a variable, nor as a ${NAME:-default}; in a URL, take the password from a variable)"
                )
            else:
                values[field_name] = _substitute(raw, environ, where, problems, multiline=field_name in secrets)
            if len(problems) > before:
                reported.add(field_name)
        try:
            block = entry.block_class(**{k: v for k, v in values.items() if k not in reported})
        except ValidationError as exc:
            for error in exc.errors(include_input=False, include_url=False):
                location = ".".join(str(part) for part in error["loc"])
                if (error["loc"] and error["loc"][0] in reported) or (not error["loc"] and reported):
                    continue
                prefix = f"block {entry.name!r}, field {location!r}" if location else f"block {entry.name!r}"
                problems.append(f"{prefix} ({entry.slug}): {error['msg']}")
            continue
        if not reported:
            built[entry.name] = block
    if problems:
        raise ProfileError(profile.path, problems)
    return built


@dataclass(frozen=True)
class AppliedBlock:
    """A block document of an applied profile (``saved`` is False in a dry run)."""

    name: str
    slug: str
    saved: bool


def apply_profile(
    path: str | os.PathLike[str], *, dry_run: bool = False, environ: Optional[Mapping[str, str]] = None
) -> list[AppliedBlock]:
    """Validate every block of the profile at ``path``, then save them all (overwriting same-named documents).

    Nothing is saved unless every block is valid. Saving is one API call per block and not
    a transaction: if the API fails half-way, fix the cause and apply again (it is idempotent).
    The block types keep the logos the server registered (``LUME_PREFECT_BLOCK_LOGOS`` is
    the server's setting). ``dry_run`` validates only.
    """
    profile = read_profile(path)
    built = build_blocks(profile, environ)
    applied = []
    with contextlib.nullcontext() if dry_run else _server_logos():
        for name, entry in profile.blocks.items():
            if not dry_run:
                # referenced blocks were saved first: their ids make this document refer to them
                built[name].save(name, overwrite=True, _sync=True)
            applied.append(AppliedBlock(name, entry.slug, saved=not dry_run))
    return applied


_UNSET = object()


@contextlib.contextmanager
def _server_logos() -> Iterator[None]:
    """Saving a block updates its type's logo to the saving process's ``LUME_PREFECT_BLOCK_LOGOS``:
    while a profile is applied, each lume block type keeps the logo the server has (the
    server's setting, applied when it starts), whatever the shell's."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound
    from prefect.utilities.dispatch import lookup_type

    kept: dict[type[Block], Any] = {}
    try:
        with get_client(sync_client=True) as client:
            for slug in _lume_slugs():
                block_class = lookup_type(Block, slug)
                try:
                    server_logo = client.read_block_type_by_slug(slug).logo_url
                except ObjectNotFound:
                    continue  # a new type: registered with this process's setting
                kept[block_class] = block_class.__dict__.get("_logo_url", _UNSET)
                block_class._logo_url = server_logo
        yield
    finally:
        for block_class, logo in kept.items():
            if logo is _UNSET:
                del block_class._logo_url
            else:
                block_class._logo_url = logo


def describe(profile: Profile, built: Mapping[str, Block]) -> Iterator[tuple[str, str, str, str]]:
    """Rows of (block, type, field, value shown) with every secret masked, for people to read."""
    for name, entry in profile.blocks.items():
        secrets = entry.secret_fields()
        for field_name, raw in entry.fields.items():
            if field_name in entry.references:
                shown = f"-> {entry.references[field_name]}"
            elif field_name in secrets:
                shown = f"{MASK} (from {raw})" if isinstance(raw, str) else MASK
            else:
                shown = str(getattr(built[name], field_name))
            yield name, entry.slug, field_name, shown


# ---- reading -------------------------------------------------------------------


class _UniqueKeyLoader(yaml.SafeLoader):
    """A SafeLoader that refuses a repeated key (PyYAML keeps the last one silently); a merge
    key (``<<: *defaults``) still merges, and a key written beside it overrides the merged one."""


_MERGE_TAG = "tag:yaml.org,2002:merge"


def _unique_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen = set()
    for key_node, _ in node.value:
        if key_node.tag == _MERGE_TAG:
            continue  # SafeLoader's construct_mapping merges it
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"key {key!r} appears twice", key_node.start_mark)
        seen.add(key)
    return yaml.SafeLoader.construct_mapping(loader, node, deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_mapping)


def _entry(name: str, spec: Any, problems: list[str]) -> Optional[BlockEntry]:
    if not isinstance(spec, dict) or not isinstance(spec.get("type"), str):
        problems.append(f"block {name!r}: expected a mapping with 'type' (a block type slug) and 'fields'")
        return None
    unknown = set(spec) - {"type", "fields"}
    if unknown:
        problems.append(f"block {name!r}: unknown key(s) {', '.join(sorted(unknown))} (expected type, fields)")
    block_class = _block_class(spec["type"])
    if block_class is None:
        problems.append(f"block {name!r}: unknown block type {spec['type']!r} (lume-prefect's: {', '.join(_lume_slugs())})")
        return None
    fields = spec.get("fields") or {}
    if not isinstance(fields, dict):
        problems.append(f"block {name!r}: 'fields' must be a mapping of field names to values")
        return None
    entry = BlockEntry(name, spec["type"], block_class, fields)
    block_fields = _block_fields(block_class)
    for field_name, value in fields.items():
        if field_name not in block_class.model_fields:  # Block allows extra fields: a typo would pass silently
            problems.append(f"block {name!r}: {spec['type']} has no field {field_name!r} (fields: {', '.join(block_class.model_fields)})")
        elif field_name in block_fields and value is not None:
            if isinstance(value, str):
                entry.references[field_name] = value
            else:
                problems.append(f"block {name!r}, field {field_name!r}: give the name of a block of this file")
    return entry


def _block_class(slug: str) -> Optional[type[Block]]:
    import lume_prefect.services  # noqa: F401 (registers every lume-prefect block type)
    from prefect.blocks.core import UnknownBlockType
    from prefect.utilities.dispatch import lookup_type

    try:
        return lookup_type(Block, slug)
    except KeyError:
        pass
    try:  # another collection's block type: loads the installed collections (slower)
        return Block.get_block_class_from_key(slug)
    except (KeyError, UnknownBlockType):
        return None


def _lume_slugs() -> list[str]:
    from prefect.utilities.dispatch import get_registry_for_type

    return sorted(slug for slug in get_registry_for_type(Block) or {} if slug.startswith("lume-"))


def _block_fields(block_class: type[Block]) -> dict[str, tuple[type[Block], ...]]:
    """Fields whose type is a block (or a union/optional of blocks), with the block types each accepts."""
    def blocks_in(annotation: Any) -> tuple[type[Block], ...]:
        if isinstance(annotation, type):
            return (annotation,) if issubclass(annotation, Block) else ()
        if typing.get_origin(annotation) in (typing.Union, types.UnionType):
            return tuple(c for arg in typing.get_args(annotation) for c in blocks_in(arg))
        return ()

    found = {name: blocks_in(info.annotation) for name, info in block_class.model_fields.items()}
    return {name: classes for name, classes in found.items() if classes}


def _saving_order(path: Path, entries: dict[str, BlockEntry]) -> dict[str, BlockEntry]:
    ordered: dict[str, BlockEntry] = {}
    visiting: list[str] = []

    def visit(name: str) -> None:
        if name in ordered:
            return
        if name in visiting:
            raise ProfileError(path, [f"blocks refer to each other in a cycle: {' -> '.join([*visiting, name])}"])
        visiting.append(name)
        for target in entries[name].references.values():
            visit(target)
        visiting.pop()
        ordered[name] = entries[name]

    for name in entries:
        visit(name)
    return ordered


# ---- the environment -------------------------------------------------------------


def _substitute(value: Any, environ: Mapping[str, str], where: str, problems: list[str], multiline: bool = False) -> Any:
    """``value`` with every ``${NAME}`` replaced; a problem (never a value) is recorded per bad
    reference. A variable's value is one line of text (a newline could pass for more of the
    document), unless ``multiline`` (a secret field taken whole from one variable: a private key)."""
    if isinstance(value, list):
        return [_substitute(item, environ, where, problems) for item in value]
    if isinstance(value, dict):
        return {key: _substitute(item, environ, where, problems) for key, item in value.items()}
    if not isinstance(value, str):
        return value
    whole = multiline and _REFERENCE.fullmatch(value) is not None

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        variable = _VARIABLE.fullmatch(match.group(1) or "")
        if variable is None:
            problems.append(f"{where}: {match.group(0)!r} is not a variable reference: write ${{NAME}} or ${{NAME:-default}}")
            return ""
        name, default = variable.groups()
        found = environ.get(name, "")
        if found and _CONTROL.search(found) and not whole:
            problems.append(f"{where}: environment variable {name} holds a newline or another control character; "
                            "give a one-line value (only a secret field taken whole from one variable, like a private key, may span lines)")
            return ""
        if found:
            return found
        if default is not None:
            return default
        state = "is empty" if name in environ else "is not set"
        problems.append(f"{where}: environment variable {name} {state}")
        return ""

    return _REFERENCE.sub(replace, value)


def _all_from_environment(value: Any) -> bool:
    """Whether every string in ``value`` takes its secret from a variable: no literal
    secrets, none written around a variable, none in a ``${NAME:-default}``."""
    if isinstance(value, str):
        return any(m.group(1) is not None for m in _REFERENCE.finditer(value)) and not _writes_a_secret(value)
    if isinstance(value, dict):
        return bool(value) and all(_all_from_environment(v) for v in value.values())
    return False


_FROM_VARIABLE = "\x00"  # stands for a value taken from the environment
_URL_PASSWORD = re.compile(r"://[^/@\s]*?:([^@/\s]*)@")


def _writes_a_secret(value: str) -> bool:
    """Whether the text of a secret field written in the file (literal parts and defaults)
    holds a secret: a URL's password, or, for anything but a URL, any text at all."""

    def written(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        variable = _VARIABLE.fullmatch(match.group(1) or "")
        if variable is None:
            return ""
        default = variable.group(2)
        return f"{_FROM_VARIABLE}{default}" if default else _FROM_VARIABLE

    text = _REFERENCE.sub(written, value)
    if "://" in text:
        return any(password.replace(_FROM_VARIABLE, "") for password in _URL_PASSWORD.findall(text))
    return bool(text.replace(_FROM_VARIABLE, "").strip())
