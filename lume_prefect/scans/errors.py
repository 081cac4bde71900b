"""Errors of scans. Each names the points, variables, values and ranges at fault."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lume_prefect.core.errors import LumeError

SHOWN = 20  # bad or failed points listed in a message; all of them are on the error


@dataclass(frozen=True)
class BadPoint:
    """One problem of one point: its index in the scan, the variable, the value and what is allowed."""

    index: int
    variable: str
    value: Any
    allowed: str
    problem: str

    def __str__(self) -> str:
        return f"point {self.index}: {self.variable} {self.problem}"


class ScanError(LumeError):
    """Base of the scan errors."""


class EmptyScan(ScanError, ValueError):
    """A scan without points: an empty list, a grid with an empty axis, an empty table."""

    def __init__(self, model: str, detail: str):
        self.model, self.detail = model, detail
        super().__init__(f"scan of model {model!r} has no points: {detail}")


class InvalidPoints(ScanError, ValueError):
    """Points of a scan that the model's spec refuses; every one is in ``bad``, checked before anything ran."""

    def __init__(self, model: str, version: str, total: int, bad: list[BadPoint]):
        self.model, self.version, self.total, self.bad = model, version, total, bad
        indices = sorted({b.index for b in bad})
        lines = [str(b) for b in bad[:SHOWN]]
        more = f"\n  ... and {len(bad) - SHOWN} more (all in .bad)" if len(bad) > SHOWN else ""
        super().__init__(
            f"model {model!r} version {version!r}: {len(indices)} of {total} points are invalid; nothing was run:\n  "
            + "\n  ".join(lines) + more
        )


@dataclass(frozen=True)
class FailedPoint:
    """A point whose model call raised: its index, inputs and the error (type and message)."""

    index: int
    inputs: dict[str, Any]
    error_type: str
    message: str

    def __str__(self) -> str:
        return f"point {self.index} {self.inputs}: {self.error_type}: {self.message}"


class ScanFailed(ScanError):
    """Points of a scan failed (raised only with ``raise_on_failure=True``); the others are
    stored, and ``result`` is the ScanResult with every computed point."""

    def __init__(self, model: str, version: str, failed: list[FailedPoint], result: Any = None):
        self.model, self.version, self.failed, self.result = model, version, failed, result
        lines = [str(f) for f in failed[:SHOWN]]
        more = f"\n  ... and {len(failed) - SHOWN} more" if len(failed) > SHOWN else ""
        super().__init__(f"model {model!r} version {version!r}: {len(failed)} points failed (the others are stored):\n  " + "\n  ".join(lines) + more)


class ScanStoreError(ScanError):
    """The results store could not be read or written. ``stored`` results were written
    before it failed; ``unstored`` holds the computed Results that were not, so nothing is lost."""

    def __init__(self, store: str, action: str, cause: str, stored: int = 0, unstored: Any = None):
        self.store, self.action, self.cause, self.stored = store, action, cause, stored
        self.unstored = list(unstored or [])
        kept = f"; {stored} results were stored before, {len(self.unstored)} computed ones are on this error (.unstored)" if action != "read" else "; nothing was run"
        super().__init__(f"results store {store} could not be {'read' if action == 'read' else 'written'}: {cause}{kept}")


class TooManyPoints(ScanError, ValueError):
    """A scan of more points than its limit (``max_points``), refused before its points are built."""

    def __init__(self, model: str, points: int, limit: int, what: str):
        self.model, self.points, self.limit = model, points, limit
        super().__init__(
            f"scan of model {model!r}: {what} has {points:,} points, above the limit of {limit:,}; nothing was run. "
            f"Split it, or pass max_points={points} (lume-prefect scan --max-points {points}) to run it anyway"
        )


class NothingToCompare(ScanError, ValueError):
    """``compare_models`` has no output to compare: none in common, or ``outputs=`` names one
    that a model does not have. Nothing was run."""

    def __init__(self, a: str, b: str, detail: str):
        self.a, self.b, self.detail = a, b, detail
        super().__init__(f"cannot compare {a} with {b}: {detail}; nothing was run")


class UnitMismatch(ScanError, ValueError):
    """An output both models declare, in different units: refused before anything runs
    (units are not converted); leave it out with ``outputs=``."""

    def __init__(self, output: str, a: str, unit_a: str, b: str, unit_b: str):
        self.output, self.a, self.unit_a, self.b, self.unit_b = output, a, unit_a, b, unit_b
        super().__init__(f"output {output!r} is in {unit_a} in {a} but in {unit_b} in {b}; units are not converted: "
                         f"make them agree, or leave {output!r} out with outputs=[...]; nothing was run")


class WorkerDied(ScanError, RuntimeError):
    """A worker process of the scan's pool died (``os._exit``, a signal, the OOM killer) while it
    ran ``batch`` (the scan's points ``points``); the scan stopped. The ``stored`` points stored
    before stay stored: a new run of the scan finds them cached."""

    def __init__(self, model: str, batch: int, points: list[int], cause: str, stored: int = 0):
        self.model, self.batch, self.points, self.cause, self.stored = model, batch, points, cause, stored
        shown = ", ".join(map(str, points[:SHOWN])) + (f", ... ({len(points)} points)" if len(points) > SHOWN else "")
        super().__init__(
            f"scan of model {model!r}: the worker process running batch {batch} (points {shown}) died: {cause}; "
            f"the scan stopped; {stored} points stored before stay stored (run the scan again: they are cached)"
        )
