"""Progress of a scan: a terminal bar when interactive, a Prefect progress artifact in a run."""

from __future__ import annotations

import contextvars
import sys
import threading
from collections.abc import Callable
from typing import Any, Optional


class ScanProgress:
    """Updated once per batch; a display that fails never fails the scan it displays.

    ``done``: points done before the first batch (cached). ``steps``: how many updates will
    follow; a scan of one batch has nothing to show between its start and its end, so its
    artifact is made once, when that batch is done (one API call, not three).

    The artifact's API calls are made in order by one thread of their own, in the run's
    context: the scan stores and frames its points meanwhile instead of waiting for the API.
    ``wait`` (at the latest ``close``) returns when they are all made."""

    def __init__(self, total: int, description: str, bar: Optional[bool] = None, done: int = 0, steps: Optional[int] = None):
        self.total, self.description, self.done = total, description, done
        self._bar: Any = None
        self._artifact: Any = None
        self._deferred = False
        self._calls: list[Callable[[], None]] = []
        self._sender: Optional[threading.Thread] = None
        self._lock = threading.Lock()
        if bar if bar is not None else sys.stderr.isatty():
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

            self._bar = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
                transient=False,
            )
            self._bar.start()
            self._task = self._bar.add_task(description, total=total, completed=done)
        if _in_run():
            self._deferred = steps == 1
            if not self._deferred:
                self._make(self._text())

    def _percent(self) -> float:
        return 100.0 * self.done / self.total if self.total else 100.0

    def _text(self, note: str = "") -> str:
        return f"{self.description}: {self.done}/{self.total} {note}".rstrip() if self.done else self.description

    def _make(self, description: str) -> None:
        percent = self._percent()

        def make() -> None:
            try:
                from prefect.artifacts import create_progress_artifact

                self._artifact = create_progress_artifact(percent, key=None, description=description, _sync=True)  # type: ignore[call-arg]
            except Exception:  # noqa: BLE001 - progress is a display
                self._artifact = None

        self._send(make)

    def _update(self, percent: float, description: str) -> None:
        if self._artifact is None:  # never made, or a call failed: the display stops
            return
        try:
            from prefect.artifacts import update_progress_artifact

            update_progress_artifact(self._artifact, percent, description=description, _sync=True)  # type: ignore[call-arg]
        except Exception:  # noqa: BLE001
            self._artifact = None

    def _send(self, call: Callable[[], None]) -> None:
        """``call`` made after those sent before it, by the sender thread (started on first use)."""
        with self._lock:
            self._calls.append(call)
            if self._sender is None:
                context = contextvars.copy_context()  # the flow run's: its client, its run id
                self._sender = threading.Thread(target=context.run, args=(self._send_all,), daemon=True, name="lume-scan-progress")
                self._sender.start()

    def _send_all(self) -> None:
        while True:
            with self._lock:
                if not self._calls:
                    self._sender = None
                    return
                call = self._calls.pop(0)
            call()

    def wait(self) -> None:
        """Return when every artifact call sent so far is made."""
        while True:
            with self._lock:
                sender = self._sender
            if sender is None or sender is threading.current_thread():
                return
            sender.join()

    def advance(self, points: int, note: str = "") -> None:
        self.done += points
        if self._bar is not None:
            self._bar.update(self._task, completed=self.done, description=f"{self.description} {note}".rstrip())
        if self._deferred:
            self._deferred = False
            self._make(self._text(note))
        elif self._artifact is not None or self._sender is not None:
            self._send(lambda percent=self._percent(), text=self._text(note): self._update(percent, text))

    def close(self, wait: bool = True) -> None:
        """Stop the bar; with ``wait``, also wait for the artifact's calls (``wait``)."""
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
        if wait:
            self.wait()


def _in_run() -> bool:
    if "prefect" not in sys.modules:
        return False
    from prefect.context import FlowRunContext, TaskRunContext

    return FlowRunContext.get() is not None or TaskRunContext.get() is not None
