"""The error base of every lume-prefect service, and a wrapper for errors that cannot travel.

An error raised in a Slurm job, a process pool, a Dask worker or a Prefect task is pickled on
its way back to the caller. ``pickle`` rebuilds an exception by calling ``cls(*exc.args)``,
and ``args`` holds the formatted message, not the constructor's arguments: any error class
with its own ``__init__`` then arrives as a ``TypeError``. ``LumeError`` records the
constructor's arguments so every subclass round-trips without writing ``__reduce__``.

Standard library only: the job-side runner imports this.
"""

from __future__ import annotations

import errno
import pickle
import traceback
from collections.abc import Callable
from typing import Any


class LumeError(Exception):
    """Base class of every lume-prefect error; subclasses pickle with their own arguments."""

    def __new__(cls, *args: Any, **kwargs: Any) -> LumeError:
        # OSError.__new__ reads (errno, strerror, filename) from its arguments when a subclass
        # overrides __new__: give it none, and let __init__ below set the message.
        self = super().__new__(cls) if issubclass(cls, OSError) else super().__new__(cls, *args)
        self._init_args = (args, kwargs)
        return self

    def __init__(self, *args: Any) -> None:
        # BaseException's own __init__: OSError's would do nothing here (see __new__)
        BaseException.__init__(self, *args)

    def for_cli(self) -> str:
        """The message as ``lume-prefect`` shows it: where the advice is a call in Python, an error
        overrides this to give the command instead (``str(error)`` keeps the Python call)."""
        return str(self)

    def __reduce__(self) -> tuple[Any, ...]:
        args, kwargs = getattr(self, "_init_args", (self.args, {}))
        state = {k: v for k, v in self.__dict__.items() if k != "_init_args"}
        return (_rebuild, (type(self), args, kwargs), state or None)


def _rebuild(cls: type[BaseException], args: tuple[Any, ...], kwargs: dict[str, Any]) -> BaseException:
    return cls(*args, **kwargs)


class MissingDatabaseDirectory(LumeError, FileNotFoundError, ValueError):
    """A SQLite URL names a file in a directory that does not exist.

    A new SQLite database is created only in an existing directory (lume-prefect's data
    directory excepted: it is created), so a mistyped path is this error, not a new, empty
    store that looks like lost results. Also a ValueError: the URL is the value at fault.
    """

    def __init__(self, url: str, directory: str):
        self.url, self.directory = url, directory
        hint = " (SQLite does not expand '~': write the absolute path)" if "/~" in directory else ""
        super().__init__(f"{url}: directory {directory!r} does not exist; create it first, or correct the URL{hint}")
        self.errno = errno.ENOENT


class SQLiteFileError(LumeError, OSError):
    """A SQLite database file cannot be used as asked: a read-only mount, a full disk, a write
    lock held by another process. Names the file and the cause, never the SQL."""

    def __init__(self, url: str, path: str, cause: str, code: int):
        self.url, self.path, self.cause = url, path, cause
        super().__init__(f"{url}: {cause}")
        self.errno, self.strerror, self.filename = code, cause, path

    def __str__(self) -> str:
        return f"{self.url}: {self.cause}"


class RemoteError(LumeError):
    """An error raised elsewhere (a Slurm job, a worker process) whose own class could not be
    sent back; it carries the original type's name, its message and its traceback text."""

    def __init__(self, type_name: str, message: str, traceback_text: str = ""):
        self.type_name, self.message, self.traceback_text = type_name, message, traceback_text
        text = f"{type_name}: {message}" if message else type_name
        if traceback_text:
            text += f"\n\nRemote traceback:\n{traceback_text.rstrip()}"
        super().__init__(text)


def portable(
    exc: BaseException,
    dumps: Callable[[Any], bytes] = pickle.dumps,
    loads: Callable[[bytes], Any] = pickle.loads,
) -> BaseException:
    """``exc`` if it survives a round trip through ``dumps``/``loads``, else a ``RemoteError``
    with its type, message and traceback (the caller then still sees what went wrong)."""
    try:
        loads(dumps(exc))
        return exc
    except Exception:  # noqa: BLE001 - any failure to round-trip means "send it as text"
        kind = type(exc)
        name = kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"
        text = "".join(traceback.format_exception(kind, exc, exc.__traceback__))
        return RemoteError(name, str(exc), text)


class PortableCall:
    """``function`` wrapped so that what it raises can always be sent back to the caller:
    an error that would not survive pickling is raised as a ``RemoteError`` instead.

    Give this (not the bare function) to a process pool, a Dask cluster or any executor that
    pickles errors on their way back; it pickles like the function it wraps.
    """

    def __init__(self, function: Callable[..., Any]):
        self.function = function
        self.__name__ = getattr(function, "__name__", type(self).__name__)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return self.function(*args, **kwargs)
        except Exception as exc:
            carried = portable(exc, _dumps(), _loads())
            if carried is exc:
                raise
        # raised outside the except block, so it has no __context__: a pickler that sends the
        # context along (tblib, which Dask installs) must not meet the original error again
        raise carried

    def __repr__(self) -> str:
        return f"PortableCall({self.function!r})"


def _dumps() -> Callable[[Any], bytes]:
    # cloudpickle when installed: it is what Dask and Slurm jobs send errors with
    try:
        import cloudpickle
    except ImportError:  # pragma: no cover - a declared dependency, absent only in a bare job env
        return pickle.dumps
    return cloudpickle.dumps


def _loads() -> Callable[[bytes], Any]:
    return pickle.loads
