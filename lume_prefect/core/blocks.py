"""What every service block shares: the docs and logo links, sync-or-async methods, and
``ServiceBlock``, a block that builds its domain object once per configuration per process.

A block is configuration; the object doing the work (a registry, a results store, a rooted
file system) is built from it on first use and shared by every block instance with the same
configuration in the process, so loading a block by name for each call costs no rebuild
(engines, clients, schema checks). A forked child builds its own: sockets are not shared.
"""

from __future__ import annotations

import abc
import functools
import json
import os
import threading
from typing import Any, Callable, Optional, TypeVar

from prefect._internal.compatibility.async_dispatch import async_dispatch
from prefect.blocks.core import Block
from prefect.utilities.asyncutils import run_sync_in_worker_thread
from pydantic import PrivateAttr

T = TypeVar("T")
B = TypeVar("B", bound=type)

_LOGOS = "https://raw.githubusercontent.com/PrefectHQ/prefect/420d0d6a78bb6df1fc18bcf188fdad43c1d22ea9/assets/block-logos/"
DOCS_ENV = "LUME_PREFECT_DOCS_URL"
DEFAULT_DOCS_URL = "http://127.0.0.1:8000/"  # where `mkdocs serve` serves a checkout's docs


def docs_url(block_type_slug: str) -> Optional[str]:
    """The entry of a block type in the documentation site: its documentation link in the UI."""
    return docs_page(f"reference/blocks/#{block_type_slug}")


def docs_page(page: str) -> Optional[str]:
    """The URL of ``page`` (``how-to/slurm/``) in the documentation site, or None.

    The site's address is ``$LUME_PREFECT_DOCS_URL`` (an ``http(s)://`` base URL where the
    facility serves the site built by ``mkdocs build``); unset, ``http://127.0.0.1:8000/``,
    where ``mkdocs serve`` serves it from a checkout. ``off``: no link. Read when the block
    classes are imported, so set it where the Prefect server (which registers the block types)
    and ``Block.save`` run, like ``$LUME_PREFECT_BLOCK_LOGOS``.
    """
    choice = os.environ.get(DOCS_ENV, "").strip()
    if choice.lower() in ("off", "none", "no", "0"):
        return None
    base = choice or DEFAULT_DOCS_URL
    if not base.startswith(("http://", "https://")):
        raise ValueError(f"{DOCS_ENV}={choice!r}: use an http(s):// base URL of the documentation site, or off")
    return f"{base.rstrip('/')}/{page}"


LOGOS_ENV = "LUME_PREFECT_BLOCK_LOGOS"


def logo_url(name: str) -> Optional[str]:
    """The logo the Prefect UI shows for a block type, chosen by ``$LUME_PREFECT_BLOCK_LOGOS``.

    Unset (or ``online``): one of Prefect's own block logos on GitHub (a pinned commit; the
    browser loads it). ``off``: no logo, so the UI draws its built-in block icon -- the choice
    for control rooms without internet, where a URL shows as a broken image (Prefect's own
    blocks too: Prefect has no offline logo). An ``http(s)://`` base URL: ``<base>/<name>.png``
    from a server of the facility's own. Read when the block classes are imported, so set it
    where the Prefect server (which registers the block types) and ``Block.save`` run.
    """
    choice = os.environ.get(LOGOS_ENV, "online").strip()
    if choice.lower() in ("off", "none", "no", "0"):
        return None
    if choice.lower() in ("online", ""):
        return f"{_LOGOS}{name}.png"
    if not choice.startswith(("http://", "https://")):
        raise ValueError(f"{LOGOS_ENV}={choice!r}: use online, off, or an http(s):// base URL of the logo files")
    return f"{choice.rstrip('/')}/{name}.png"


def forget_registration_on_logo_change() -> None:
    """Make a Prefect server register the block types again when ``$LUME_PREFECT_BLOCK_LOGOS`` changed.

    A server registers every block type at start unless its memo store holds the hash of the
    same block registry, which does not cover the logos: a restart with another setting would
    change nothing. The setting the memo was made under is kept beside it
    (``lume_block_logos``); when it differs, the memo is removed, so this start registers
    again. Called when Prefect loads the installed collections, before it reads the memo.
    """
    from prefect.settings import PREFECT_MEMO_STORE_PATH

    choice = os.environ.get(LOGOS_ENV, "online").strip() or "online"
    memo = PREFECT_MEMO_STORE_PATH.value()
    marker = memo.with_name("lume_block_logos")
    try:
        if marker.read_text(encoding="utf-8") == choice:
            return
    except OSError:
        pass
    try:
        memo.unlink(missing_ok=True)
        marker.write_text(choice, encoding="utf-8")
    except OSError:  # a read-only home: Prefect's own memo cannot be written there either
        pass


def sync_or_async(fn: Callable[..., T]) -> Callable[..., T]:
    """Run ``fn`` directly in sync code; in async code return an awaitable that runs it in a
    worker thread (Prefect's convention), so I/O never blocks the event loop. ``fn.aio`` is
    the explicit async form; ``_sync=True`` forces the sync one."""

    @functools.wraps(fn)
    async def in_thread(self: Any, *args: Any, **kwargs: Any) -> T:
        return await run_sync_in_worker_thread(fn, self, *args, **kwargs)

    in_thread.__name__ = in_thread.__qualname__ = f"a{fn.__name__}"
    return async_dispatch(in_thread)(fn)


# (block class, configuration) -> the domain object built from it, in this process
_built: dict[tuple[type, str], Any] = {}
_built_lock = threading.Lock()


class ServiceBlock(Block, abc.ABC):
    """A block that configures one domain object, built by ``_build`` and cached per
    configuration per process (see the module docstring)."""

    _service: Optional[tuple[int, Any]] = PrivateAttr(None)

    @abc.abstractmethod
    def _build(self) -> Any:
        """The domain object this block configures."""

    def _configuration(self) -> str:
        # every field, secrets included (in memory only): equal configurations share one object
        return json.dumps(self.model_dump(mode="json", context={"include_secrets": True}), sort_keys=True, default=str)

    def _domain(self) -> Any:
        cached = self._service
        pid = os.getpid()
        if cached is not None and cached[0] == pid:
            return cached[1]
        key = (type(self), self._configuration())
        built = _built.get(key)
        if built is None:
            with _built_lock:
                built = _built.get(key)
                if built is None:
                    built = _built[key] = self._build()
        self._service = (pid, built)
        return built

    # The domain object holds connections and locks: a pickled or deep-copied block (a task
    # argument sent to a worker, a Slurm job, a copy) carries its configuration only.
    def __getstate__(self) -> dict[Any, Any]:
        state = super().__getstate__()
        private = state.get("__pydantic_private__") or {}
        if private.get("_service") is not None:
            state = {**state, "__pydantic_private__": {**private, "_service": None}}
        return state

    def __deepcopy__(self, memo: Optional[dict[int, Any]] = None) -> Any:
        memo = {} if memo is None else memo
        if self._service is not None:
            memo[id(self._service)] = None
        return super().__deepcopy__(memo)


def delegate(interface: type, *names: str) -> Callable[[B], B]:
    """Give a ``ServiceBlock`` class the methods ``names`` of its domain ``interface``: each
    calls the domain object's method of that name, keeps its signature and docstring, and
    comes in both forms (sync or awaitable, and ``a<name>``)."""

    def decorate(cls: B) -> B:
        for name in names:
            setattr(cls, name, _delegated(getattr(interface, name), name))
            setattr(cls, f"a{name}", getattr(cls, name).aio)
        return cls

    return decorate


def _delegated(target: Callable[..., Any], name: str) -> Callable[..., Any]:
    def method(self: ServiceBlock, *args: Any, **kwargs: Any) -> Any:
        return getattr(self._domain(), name)(*args, **kwargs)

    functools.update_wrapper(method, target)  # name, docstring, and the signature via __wrapped__
    return sync_or_async(method)


def _forget_in_child() -> None:
    _built.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_in_child)
