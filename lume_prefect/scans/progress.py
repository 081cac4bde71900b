"""Progress of a scan: a terminal bar when interactive, a Prefect progress artifact in a run."""

from __future__ import annotations

import sys
from typing import Any, Optional


class ScanProgress:
    """Updated once per batch; a display that fails never fails the scan it displays."""

    def __init__(self, total: int, description: str, bar: Optional[bool] = None):
        self.total, self.description, self.done = total, description, 0
        self._bar: Any = None
        self._artifact: Any = None
        if bar if bar is not None else sys.stderr.isatty():
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

            self._bar = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
                transient=False,
            )
            self._bar.start()
            self._task = self._bar.add_task(description, total=total)
        if _in_run():
            try:
                from prefect.artifacts import create_progress_artifact

                self._artifact = create_progress_artifact(0.0, key=None, description=description, _sync=True)  # type: ignore[call-arg]
            except Exception:  # noqa: BLE001 - progress is a display
                self._artifact = None

    def advance(self, points: int, note: str = "") -> None:
        self.done += points
        if self._bar is not None:
            self._bar.update(self._task, completed=self.done, description=f"{self.description} {note}".rstrip())
        if self._artifact is not None:
            try:
                from prefect.artifacts import update_progress_artifact

                percent = 100.0 * self.done / self.total if self.total else 100.0
                update_progress_artifact(self._artifact, percent, description=f"{self.description}: {self.done}/{self.total} {note}".rstrip(), _sync=True)  # type: ignore[call-arg]
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
