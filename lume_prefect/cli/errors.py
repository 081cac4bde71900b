"""The CLI's last line of defence: any error a command did not handle becomes one line on
stderr naming what failed, and exit code 1; never a traceback, never a password.

``LUME_PREFECT_DEBUG=1`` shows the traceback instead (for bug reports).
"""

from __future__ import annotations

from lume_prefect.core.urls import hide_passwords

DEBUG_ENV = "LUME_PREFECT_DEBUG"
__all__ = ["DEBUG_ENV", "hide_passwords", "one_line"]


def one_line(exc: BaseException) -> str:
    """What failed, in one line: the thing named, the reason, no secret."""
    notes = [note for note in getattr(exc, "__notes__", []) if note]
    driver = getattr(exc, "orig", None)
    if driver is not None:  # SQLAlchemy DBAPIError: the driver's words, without SQL and parameters
        where = notes[0].removeprefix("database: ") if notes else "the database"
        text = f"{where}: {_first_line(str(driver)) or type(driver).__name__}"
    elif type(exc).__name__ == "ArgumentError" and type(exc).__module__.startswith("sqlalchemy"):
        text = f"not a database URL: {_first_line(str(exc))} (e.g. postgresql+psycopg://user@host/db or sqlite:////path/file.db)"
    elif type(exc).__name__ == "ValidationError" and hasattr(exc, "errors"):
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(part) for part in first.get("loc", ()))
        text = f"{exc.title}: {where + ': ' if where else ''}{first.get('msg', '')}"
    elif isinstance(exc, OSError) and exc.strerror and exc.filename is not None:
        text = f"{exc.filename}: {exc.strerror}"
    else:
        shown = exc.for_cli() if hasattr(exc, "for_cli") else str(exc)
        text = f"{_first_line(shown) or type(exc).__name__}"
        if notes:
            text += f" ({notes[0]})"
    return hide_passwords(text)


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return ""
    return lines[0] if len(lines) == 1 or len(lines[0]) > 20 else f"{lines[0]} {lines[1]}"
