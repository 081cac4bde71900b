"""ScanResult: what a scan returns -- every point's inputs and outputs, keys, and counts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Optional
from uuid import UUID

from lume_prefect.scans.errors import FailedPoint

if TYPE_CHECKING:
    import pandas

STATUS = ("computed", "cached", "failed")


@dataclass
class ScanResult:
    """The outcome of ``run_scan``.

    ``frame`` has one row per point, in the order given: the columns of ``to_dataframe``
    (key, model, version, created, flow_run_id, tags, files, ``inputs.*``, ``outputs.*``)
    plus ``status`` (computed, cached or failed) and ``error`` (of a failed point). ``keys``
    are the points' result keys in the same order; the results computed by this scan carry
    the tag ``scan:<scan_id>`` (``tag``), and ``store.get_many(keys)`` finds every point.
    """

    scan_id: str
    model: str
    version: str
    executor: str
    keys: list[str]
    frame: pandas.DataFrame
    computed: int
    cached: int
    failures: list[FailedPoint] = field(default_factory=list)
    seconds: float = 0.0
    batches: int = 0
    flow_run_id: Optional[UUID] = None

    @property
    def points(self) -> int:
        return len(self.keys)

    @property
    def failed(self) -> int:
        return len(self.failures)

    @property
    def tag(self) -> str:
        return f"scan:{self.scan_id}"

    @property
    def ok(self) -> bool:
        return not self.failures

    def summary(self) -> dict[str, Any]:
        """Counts and time, as in the scan's table artifact."""
        return {
            "scan": self.scan_id, "model": self.model, "version": self.version, "executor": self.executor,
            "points": self.points, "cached": self.cached, "computed": self.computed, "failed": self.failed,
            "batches": self.batches, "seconds": round(self.seconds, 3),
        }

    def __repr__(self) -> str:
        return (f"ScanResult({self.model} {self.version}, scan {self.scan_id}: {self.points} points, "
                f"{self.cached} cached, {self.computed} computed, {self.failed} failed, {self.seconds:.2f} s)")
