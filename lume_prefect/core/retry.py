"""Retrying a database call through a short outage (a server restart, a failover, a dropped
connection), bounded in time, with exponential backoff and jitter.

Only errors that mean "the connection went away or could not be made" are retried; a
constraint violation, a syntax error or a locked SQLite file is raised at once. The first
attempt runs without any retry machinery, so a call that succeeds costs nothing extra; a
decorated call made inside another one does not retry on its own (the outermost retries
the whole call, so the retry window is not multiplied). Only a database that has answered
once in this process is waited for: one never reached is down or misconfigured, and its
error is raised at once. Retried writes must be idempotent:
the stores make them so with unique keys (a result's key, a model's name and version).

Standard library and tenacity only.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])
RETRY_WINDOW_S = 60.0  # an outage shorter than this never reaches the caller
FIRST_WAIT_S, LONGEST_WAIT_S = 0.1, 2.0
# What drivers say when the connection is gone or cannot be made (PostgreSQL, MariaDB/MySQL).
CONNECTION_LOST = (
    "connection refused",
    "server closed the connection",
    "terminating connection",
    "the database system is shutting down",
    "the database system is starting up",
    "the database system is in recovery mode",
    "connection reset",
    "connection timed out",
    "broken pipe",
    "ssl connection has been closed",
    "consuming input failed",
    "server has gone away",
    "lost connection to",
    "can't connect to",
)
_log = logging.getLogger("lume_prefect.retry")
_inside = threading.local()
_reached: set[str] = set()  # databases answered at least once in this process: worth waiting for


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` (a SQLAlchemy or driver error) means the connection was lost or refused."""
    if getattr(exc, "connection_invalidated", False):
        return True
    if type(exc).__name__ not in ("OperationalError", "InterfaceError"):
        return False
    text = str(getattr(exc, "orig", None) or exc).lower()
    return any(marker in text for marker in CONNECTION_LOST)


def retry_transient(fn: F, window: float = RETRY_WINDOW_S) -> F:
    """The method ``fn`` retried on transient connection errors for up to ``window`` seconds;
    a driver error that escapes gets a note naming the database (``target``)."""

    @functools.wraps(fn)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        if getattr(_inside, "active", False):
            return fn(self, *args, **kwargs)
        _inside.active = True
        database = target(self)
        try:
            try:
                answer = fn(self, *args, **kwargs)
                _reached.add(database)
                return answer
            except Exception as exc:
                if not is_transient(exc) or database not in _reached:
                    raise  # a database never reached is down or misconfigured: no use waiting
                _log.warning("%s: lost the connection to %s (%s); retrying for up to %g s", fn.__qualname__, database, type(exc).__name__, window)
            # imported here: tenacity (and the asyncio it loads) costs a short command a tenth of a second
            from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_exponential, wait_random

            for attempt in Retrying(
                retry=retry_if_exception(is_transient),
                stop=stop_after_delay(window),
                wait=wait_exponential(multiplier=FIRST_WAIT_S, max=LONGEST_WAIT_S) + wait_random(0, FIRST_WAIT_S),
                reraise=True,
            ):
                with attempt:
                    _inside.retrying = True
                    return fn(self, *args, **kwargs)
        except Exception as exc:
            if hasattr(exc, "orig") and not getattr(exc, "__notes__", None):
                exc.add_note(f"database: {database}")  # a driver error does not say which database
            raise
        finally:
            _inside.active = _inside.retrying = False
        raise AssertionError("unreachable")  # pragma: no cover - Retrying returns or raises

    return wrapper  # type: ignore[return-value]


def retrying() -> bool:
    """Whether this call is a retry: a write that finds its own row may have committed
    just before the connection dropped (the acknowledgement was lost, not the write)."""
    return getattr(_inside, "retrying", False)


def target(store: Any) -> str:
    """How a store names its database in messages (its URL, password hidden)."""
    return str(getattr(store, "label", None) or repr(store))


def retry_methods(cls: type, names: tuple[str, ...]) -> None:
    """Wrap the methods ``names`` of ``cls`` with ``retry_transient`` (done once, at import)."""
    for name in names:
        setattr(cls, name, retry_transient(getattr(cls, name)))
