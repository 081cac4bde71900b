"""Shared output helpers of the CLI: rich tables for people, JSON for scripts."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.markup import escape
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


def _is_run_traceback(record: Any) -> bool:
    """A flow or task run's log record carrying a traceback (Prefect's "Encountered exception
    during execution", "Crash detected!")."""
    return bool(record.exc_info or record.exc_text) and record.name.startswith(("prefect.flow_runs", "prefect.task_runs"))


@contextmanager
def run_tracebacks_in_logs_only(verbose: bool) -> Iterator[None]:
    """While entered, a failing run's traceback goes to the flow run's logs (Prefect's API
    handler) but not to the terminal, where the command's one ``error:`` line names the model,
    version and cause; ``verbose`` lets it through as well."""
    import logging

    from prefect.logging.handlers import PrefectConsoleHandler

    if verbose:
        yield
        return
    def keep(record: logging.LogRecord) -> bool:
        return not _is_run_traceback(record)

    consoles = [h for h in logging.getLogger().handlers if isinstance(h, PrefectConsoleHandler)]
    for handler in consoles:
        handler.addFilter(keep)
    try:
        yield
    finally:
        for handler in consoles:
            handler.removeFilter(keep)


@contextmanager
def said_on_hard_exit(what: str) -> Iterator[None]:
    """While entered, a call of ``os._exit`` in this process (a model ending the interpreter:
    nothing can catch it) first prints one ``error:`` line saying what did it; Prefect then marks
    its flow run Crashed when its heartbeats stop (README, "What we tried to break")."""
    import os
    import sys

    real_exit, pid = os._exit, os.getpid()

    def exit_noting(status: int) -> None:  # type: ignore[misc]
        if os.getpid() == pid:  # a forked child's own exit is none of ours
            from prefect.context import FlowRunContext

            context = FlowRunContext.get()
            run = f" in flow run {context.flow_run.id}" if context is not None and context.flow_run else ""
            version = f" version {context.flow.version!r}" if context is not None and context.flow and context.flow.version else ""
            sys.stdout.flush()
            errors.print(f"[red]error:[/red] {escape(what)}{escape(version)} called os._exit({status}){run}: the process ends here, "
                         "without its outputs; the flow run is marked Crashed when its heartbeats stop",
                         highlight=False, soft_wrap=True)
            errors.file.flush()
        real_exit(status)

    os._exit = exit_noting
    try:
        yield
    finally:
        os._exit = real_exit
