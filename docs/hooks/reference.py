"""MkDocs hook: the reference pages generated from the code, never copied.

A page holds a marker comment and the build replaces it:

- ``<!-- lume:blocks -->``: every block type the ``prefect.collections`` entry point registers,
  with its slug, description and fields (from the block's JSON schema, as the Prefect UI shows it).
- ``<!-- lume:cli -->``: the help of every ``lume-prefect`` command, walked from the cyclopts app.
- ``<!-- lume:api PACKAGE -->``: a mkdocstrings entry for every name in ``PACKAGE.__all__``, at the
  module that defines it (the packages import most names lazily, which static analysis cannot see).
"""

from __future__ import annotations

import importlib
import io
import os
import re
from typing import Any

MARKER = re.compile(r"<!--\s*lume:(?P<kind>blocks|cli|api)(?:\s+(?P<arg>[\w.]+))?\s*-->")


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    return MARKER.sub(lambda m: GENERATORS[m["kind"]](m["arg"]), markdown)


# -- block types ---------------------------------------------------------------------------


def block_classes() -> list[type]:
    from prefect.blocks.core import Block

    collection = importlib.import_module("lume_prefect.prefect_collection")
    found = {c for c in vars(collection).values() if isinstance(c, type) and issubclass(c, Block)}
    return sorted(found, key=lambda c: c.get_block_type_slug())


def _type_of(prop: dict[str, Any], definitions: dict[str, Any]) -> str:
    if "$ref" in prop:
        target = definitions.get(prop["$ref"].rsplit("/", 1)[-1], {})
        slug = target.get("block_type_slug")
        return f"block `{slug}`" if slug else prop["$ref"].rsplit("/", 1)[-1]
    if "anyOf" in prop:
        kinds = [_type_of(p, definitions) for p in prop["anyOf"] if p.get("type") != "null"]
        optional = any(p.get("type") == "null" for p in prop["anyOf"])
        return " or ".join(kinds) + (" (optional)" if optional else "")
    if "enum" in prop:
        return "one of " + ", ".join(f"`{v}`" for v in prop["enum"])
    if prop.get("format") == "password":
        return "secret string"
    kind = prop.get("type", "any")
    if kind == "array":
        return f"list of {_type_of(prop.get('items', {}), definitions)}"
    return str(kind)


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def blocks_markdown(_: Any = None) -> str:
    out = []
    for cls in block_classes():
        slug = cls.get_block_type_slug()
        schema = cls.model_json_schema()
        definitions = schema.get("definitions", schema.get("$defs", {}))
        required = set(schema.get("required", ()))
        secret = set(schema.get("secret_fields", ()))
        out += [f"## {cls.get_block_type_name()} {{#{slug}}}", "",
                f"Type slug `{slug}`; in Python `from {cls.__module__.rsplit('.', 1)[0]} import {cls.__name__}`.", "",
                (getattr(cls, "_description", None) or "").strip(), "",
                "| field | type | default | description |", "|---|---|---|---|"]
        for name, prop in schema.get("properties", {}).items():
            kind = _type_of(prop, definitions) + (" (secret)" if name in secret and "secret" not in _type_of(prop, definitions) else "")
            default = "required" if name in required else f"`{prop['default']!r}`" if "default" in prop else ""
            out.append(f"| `{name}` | {_cell(kind)} | {_cell(default)} | {_cell(prop.get('description', ''))} |")
        out.append("")
    return "\n".join(out)


# -- the command line ------------------------------------------------------------------------


def cli_nodes(application: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    nodes = []
    for name, sub in application.resolved_commands().items():
        if name in ("--help", "-h", "--version") or sub is application or not sub.show:
            continue
        nodes.append(((*path, name), sub))
        nodes += cli_nodes(sub, (*path, name))
    return nodes


def cli_markdown(_: Any = None) -> str:
    from rich.console import Console

    from lume_prefect.cli import app

    def help_text(path: tuple[str, ...]) -> str:
        buffer = io.StringIO()
        console = Console(file=buffer, width=100, color_system=None, force_terminal=False, legacy_windows=False)
        app.help_print(list(path), console=console)
        return buffer.getvalue().rstrip()

    out = ["## lume-prefect", "", "```text", help_text(()), "```", ""]
    for path, _node in cli_nodes(app):
        anchor = "-".join(path)
        out += [f"{'#' * min(2 + len(path) - 1, 4)} lume-prefect {' '.join(path)} {{#{anchor}}}", "",
                "```text", help_text(path), "```", ""]
    return "\n".join(out)


# -- the Python API --------------------------------------------------------------------------


def api_markdown(package: str) -> str:
    module = importlib.import_module(package)
    out = []
    for name in module.__all__:
        value = getattr(module, name)
        defined_in = getattr(value, "__module__", None)
        if not isinstance(defined_in, str) or not defined_in.startswith("lume_prefect") or not callable(value):
            out += [f"### `{name}`", "", f"`{package}.{name}` = `{value!r}`", ""]
            continue
        out += [f"::: {defined_in}.{getattr(value, '__qualname__', name)}", "    options:", "      heading_level: 3", ""]
    return "\n".join(out)


GENERATORS = {"blocks": blocks_markdown, "cli": cli_markdown, "api": api_markdown}
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
