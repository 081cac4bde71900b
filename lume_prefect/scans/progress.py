"""Progress of a scan: a terminal bar when interactive, a Prefect progress artifact in a run."""

from __future__ import annotations

import sys
from typing import Any, Optional


class ScanProgress:
    """Updated once per batch; a display that fails never fails the scan it displays.

    ``done``: points done before the first batch (cached). ``steps``: how many updates will
    follow; a scan of one batch has nothing to show between its start and its end, so its
    artifact is made once, when that batch is done (one API call, not three)."""

    def __init__(self, total: int, description: str, bar: Optional[bool] = None, done: int = 0, steps: Optional[int] = None):
        self.total, self.description, self.done = total, description, done
        self._bar: Any = None
        self._artifact: Any = None
        self._deferred = False
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
        try:
            from prefect.artifacts import create_progress_artifact

            self._artifact = create_progress_artifact(self._percent(), key=None, description=description, _sync=True)  # type: ignore[call-arg]
        except Exception:  # noqa: BLE001 - progress is a display
            self._artifact = None

    def advance(self, points: int, note: str = "") -> None:
        self.done += points
        if self._bar is not None:
            self._bar.update(self._task, completed=self.done, description=f"{self.description} {note}".rstrip())
        if self._deferred:
            self._deferred = False
            self._make(self._text(note))
        elif self._artifact is not None:
            try:
                from prefect.artifacts import update_progress_artifact

                update_progress_artifact(self._artifact, self._percent(), description=self._text(note), _sync=True)  # type: ignore[call-arg]
            except Exception:  # noqa: BLE001
                self._artifact = None

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


def _in_run() -> bool:
    if "prefect" not in sys.modules:
        return False
    from prefect.context import FlowRunContext, TaskRunContext

    return FlowRunContext.get() is not None or TaskRunContext.get() is not None
