"""Checks on everything a caller passes to the registry, done before any SQL runs.

Each failure is an ``InvalidValue`` naming the field and the value, so nothing is written
half-way because of bad input.
"""

from __future__ import annotations

import getpass
import json
import re
from typing import Any, Optional

from lume_prefect.core.jsonfloats import TAG
from lume_prefect.core.names import MODEL_NAME_PATTERN, MODEL_NAME_RULE
from lume_prefect.registry.errors import InvalidValue
from lume_prefect.registry.schema import ALIAS_LENGTH, NAME_LENGTH, TEXT_LENGTH
from lume_prefect.registry.versions import parse_version, sort_key

METADATA_FIELDS = ("author", "laboratory", "facility", "beampath")

# Model names become parts of Prefect deployment names and CLI arguments: keep them plain.
_NAME = re.compile(MODEL_NAME_PATTERN)
_ALIAS = re.compile(rf"[a-z][a-z0-9_-]{{0,{ALIAS_LENGTH - 1}}}")
_TAG_KEY = re.compile(rf"[A-Za-z0-9_.:/-]{{1,{NAME_LENGTH}}}")
_ENTRYPOINT = re.compile(r"[^\s:][^:]*:[A-Za-z_][A-Za-z0-9_]*")
_SHA256 = re.compile(r"[0-9a-f]{64}")
RESERVED_ALIASES = frozenset({"latest"})


def model_name(value: Any) -> str:
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        reason = (
            "a model name must not be empty"
            if value == "" or (isinstance(value, str) and not value.strip())
            else MODEL_NAME_RULE
        )
        raise InvalidValue("model name", value, reason)
    return value


def alias_name(value: Any) -> str:
    if not isinstance(value, str) or not _ALIAS.fullmatch(value):
        raise InvalidValue("alias", value, f"use 1-{ALIAS_LENGTH} lowercase letters, digits, '_' or '-', starting with a letter")
    if value in RESERVED_ALIASES:
        raise InvalidValue("alias", value, "reserved: 'latest' always means the newest version")
    return value


def text(field: str, value: Any, *, required: bool = True, limit: Optional[int] = TEXT_LENGTH) -> str:
    if not isinstance(value, str):
        raise InvalidValue(field, value, "must be a string")
    _storable(field, value)
    if required and not value.strip():
        raise InvalidValue(field, value, "must not be empty")
    if limit is not None and len(value) > limit:
        raise InvalidValue(field, value[:40] + "...", f"longer than {limit} characters")
    return value


def _storable(field: str, value: str) -> None:
    """One rule for text on every backend: PostgreSQL cannot store NUL, and a lone surrogate is
    not UTF-8 (SQLite would keep what the others refuse)."""
    if "\x00" in value:
        raise InvalidValue(field, value[:60], "contains a NUL character, which no database stores as text")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InvalidValue(field, value[:60], f"contains a lone surrogate {value[exc.start]!r} at {exc.start}: not valid Unicode text") from None


def optional_text(field: str, value: Any) -> Optional[str]:
    return None if value is None else text(field, value)


def tags(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidValue("tags", value, "must be a dict of str -> str")
    for key, tag_value in value.items():
        if not isinstance(key, str) or not _TAG_KEY.fullmatch(key):
            raise InvalidValue("tag key", key, f"use 1-{NAME_LENGTH} letters, digits or _.:/-")
        text(f"tag {key!r}", tag_value, required=False)
    return dict(value)


def entrypoint(value: Any) -> str:
    if not isinstance(value, str) or not _ENTRYPOINT.fullmatch(value) or len(value) > TEXT_LENGTH:
        raise InvalidValue("entrypoint", value, "expected 'module.path:flow_function' or 'path/to/file.py:flow_function'")
    return value


def sha256(value: Any) -> Optional[str]:
    if value is None:
        return None
    if not isinstance(value, str) or not _SHA256.fullmatch(value.lower()):
        raise InvalidValue("sha256", value, "expected 64 hexadecimal digits")
    return value.lower()


SCHEMA_DEPTH = 31  # dicts and lists: MariaDB's JSON limit (32, counting the innermost values), for every backend; a model's schema is a dozen deep


def nesting(value: Any, limit: int) -> int:
    """How deep dicts and lists nest in ``value``, counted without recursion and only up to
    ``limit + 1`` (a value 100,000 deep costs no more than one ``limit`` deep)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list, tuple)):
            deepest = max(deepest, depth)
            if depth > limit:
                return depth
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def parameters_schema(value: Any) -> Optional[dict[str, Any]]:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidValue("parameters_schema", value, "must be a JSON schema (a dict)")
    if nesting(value, SCHEMA_DEPTH) > SCHEMA_DEPTH:
        raise InvalidValue("parameters_schema", "{...}", f"is nested more than {SCHEMA_DEPTH} levels deep, the limit of a model's schema")
    try:
        encoded = json.dumps(value, allow_nan=False)
    except RecursionError:
        raise InvalidValue("parameters_schema", "{...}", "nested too deeply to be a JSON schema") from None
    except (TypeError, ValueError) as exc:
        reason = "NaN and infinities are not JSON numbers" if "JSON compliant" in str(exc) else f"not JSON-serialisable: {exc}"
        raise InvalidValue("parameters_schema", value, reason) from None
    if f'"{TAG}":' in encoded:  # only a key is followed by an unescaped '":'
        raise InvalidValue("parameters_schema", value, f"the key {TAG!r} is lume-prefect's own (it tags floats a database would change)")
    if "\\u0000" in encoded:
        raise InvalidValue("parameters_schema", value, "contains a NUL character, which no database stores in JSON")
    if "\\ud" in encoded:  # an escaped surrogate: a pair (an emoji) is fine, a lone one is not text
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidValue("parameters_schema", value, "contains a lone surrogate: not valid Unicode text") from None
    from jsonschema import SchemaError, validators  # a Prefect dependency; loaded only here

    try:
        validators.validator_for(value).check_schema(value)
    except SchemaError as exc:
        raise InvalidValue("parameters_schema", value, f"not a valid JSON schema: {exc.message}") from None
    return value


def deployment_id(value: Any) -> Optional[str]:
    """A Prefect deployment's id: a UUID (its canonical text), or None."""
    if value is None:
        return None
    from uuid import UUID

    try:
        return str(value if isinstance(value, UUID) else UUID(str(value)))
    except ValueError:
        raise InvalidValue("deployment_id", value, "must be a UUID (a Prefect deployment's id)") from None


# ---- what a store records, checked once for every store (SQLRegistry, MLflowStore) ----------


def model_metadata(author: Any, laboratory: Any, facility: Any, beampath: Any, description: Any) -> dict[str, str]:
    """A new model's metadata, each field checked."""
    fields = {f: text(f, v) for f, v in zip(METADATA_FIELDS, (author, laboratory, facility, beampath))}
    return {**fields, "description": text("description", description, required=False, limit=None)}


def version_fields(name: Any, version: Any, source: Any, entry: Any, digest: Any, image: Any, schema: Any, by: Any) -> dict[str, Any]:
    """A new version's fields (source, entrypoint, sha256, image, parameters_schema, registered_by),
    each checked, with its PEP 440 normal form and sort key."""
    model_name(name)
    parsed = parse_version(version, name)
    return {
        "version": str(parsed),
        "sort_key": sort_key(parsed),
        "source": text("source", source, limit=None),
        "entrypoint": entrypoint(entry),
        "sha256": sha256(digest),
        "image": optional_text("image", image),
        "parameters_schema": parameters_schema(schema),
        "registered_by": who(by),
    }


def deployment(name: Any, uuid: Any, image: Any) -> dict[str, Optional[str]]:
    """What ``set_deployment`` records: the deployment's name and id, and the image when given."""
    values = {"deployment_name": text("deployment_name", name), "deployment_id": deployment_id(uuid)}
    if image is not None:
        values["image"] = text("image", image)
    return values


def who(value: Optional[str]) -> str:
    """The person or process doing a change: given, else the OS user."""
    if value is None:
        try:
            value = getpass.getuser()
        except (KeyError, OSError):  # no passwd entry, e.g. in some containers
            value = "unknown"
    return text("by", value, limit=NAME_LENGTH)
