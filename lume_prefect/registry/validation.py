"""Checks on everything a caller passes to the registry, done before any SQL runs.

Each failure is an ``InvalidValue`` naming the field and the value, so nothing is written
half-way because of bad input.
"""

from __future__ import annotations

import getpass
import json
import re
from typing import Any, Optional

from lume_prefect.core.names import MODEL_NAME_PATTERN, MODEL_NAME_RULE
from lume_prefect.registry.errors import InvalidValue
from lume_prefect.registry.schema import ALIAS_LENGTH, NAME_LENGTH, TEXT_LENGTH

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
    if required and not value.strip():
        raise InvalidValue(field, value, "must not be empty")
    if limit is not None and len(value) > limit:
        raise InvalidValue(field, value[:40] + "...", f"longer than {limit} characters")
    return value


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


def parameters_schema(value: Any) -> Optional[dict[str, Any]]:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidValue("parameters_schema", value, "must be a JSON schema (a dict)")
    try:
        json.dumps(value)
    except (TypeError, ValueError) as exc:
        raise InvalidValue("parameters_schema", value, f"not JSON-serialisable: {exc}") from None
    from jsonschema import SchemaError, validators  # a Prefect dependency; loaded only here

    try:
        validators.validator_for(value).check_schema(value)
    except SchemaError as exc:
        raise InvalidValue("parameters_schema", value, f"not a valid JSON schema: {exc.message}") from None
    return value


def who(value: Optional[str]) -> str:
    """The person or process doing a change: given, else the OS user."""
    if value is None:
        try:
            value = getpass.getuser()
        except (KeyError, OSError):  # no passwd entry, e.g. in some containers
            value = "unknown"
    return text("by", value, limit=NAME_LENGTH)
