"""Shared output helpers of the CLI: rich tables for people, JSON for scripts."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from rich.console import Console
from rich.measure import Measurement
from rich.table import Table

console = Console()
errors = Console(stderr=True)


def print_json(data: Any) -> None:
    """JSON on stdout, unstyled, so it can be piped."""
    print(json.dumps(data, indent=2, default=str))


def print_table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """A table when it fits the terminal; else one block of ``column  value`` lines per row.

    Nothing is cut to an ellipsis: a column empty in every row is left out, long values wrap,
    and a table far wider than the terminal is printed record by record (like psql's expanded mode).
    """
    cells = [["" if v is None else str(v) for v in row] for row in rows]
    keep = [i for i, _ in enumerate(columns) if i == 0 or any(row[i] for row in cells)]
    columns = [columns[i] for i in keep]
    cells = [[row[i] for i in keep] for row in cells]
    table = Table(title=title)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in cells:
        table.add_row(*row)
    natural = Measurement.get(console, console.options.update_width(10_000), table).maximum
    if not cells or natural <= console.width * 1.5:  # a little folding reads better than records
        console.print(table)
        return
    if title:
        console.print(title, style="bold", highlight=False, markup=False)
    label_width = max(len(c) for c in columns)
    for number, row in enumerate(cells, 1):
        console.rule(f"{number}", align="left", characters="-")
        for column, value in zip(columns, row):
            console.print(f"{column:<{label_width}}  {value}", highlight=False, markup=False, soft_wrap=True)


def json_object(text: str, option: str, example: str) -> dict[str, Any]:
    """The JSON object given to ``option`` (e.g. ``--inputs``); else a one-line error naming the
    option, with ``example`` of what it takes."""
    try:
        value = json.loads(text)
    except ValueError as exc:
        fail(f"{option} is not valid JSON ({exc}): give a JSON object, e.g. {example}")
    if not isinstance(value, dict):
        fail(f"{option} must be a JSON object, e.g. {example}, got {text!r}")
    return value


def fail(message: str | BaseException, code: int = 1) -> None:
    """One red line on stderr and exit ``code``; an error is shown as the CLI words it (``for_cli``)."""
    if isinstance(message, BaseException):
        message = message.for_cli() if hasattr(message, "for_cli") else str(message)
    errors.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    raise SystemExit(code)
