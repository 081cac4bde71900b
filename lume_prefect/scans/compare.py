"""``compare_models``: two registered models on the same points, output by output.

A surrogate against its physics model, or two versions of one model: both run through
``run_scan`` (cached where stored) as subflows of one ``lume-compare`` flow run, whose page
shows the plot and the table of differences.

Units are compared, never converted: an output whose units differ between the models (both
declared) is refused before anything runs (``UnitMismatch``); leave it out with ``outputs=``.
Outputs of only one model are skipped and listed on ``ModelComparison.skipped``.
"""

from __future__ import annotations

import inspect
import math
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Optional, Union
from uuid import UUID

from lume_prefect.scans.errors import NothingToCompare, UnitMismatch
from lume_prefect.scans.result import ScanResult

if TYPE_CHECKING:
    import pandas

    from lume_prefect.models.contract import ModelSpec
    from lume_prefect.services import LumeServices

ModelRef = Union[str, tuple[str, Optional[str]]]


@dataclass
class ModelComparison:
    """What ``compare_models`` returns.

    ``frame``: one row per point and compared output (``point`` is the point's index in the
    order given, then its ``inputs.*`` as given, ``output``, the two values ``a`` and ``b``,
    ``difference`` = a - b and ``relative_difference`` = (a - b) / |b|; for arrays of one
    shape, the largest element-wise |a - b| and ||a - b|| / ||b||; ``equal``; ``error``: why a
    point has no difference: it failed in a model, or its arrays differ in shape).
    ``summary``: one row per output (units, points, compared, equal, mean_difference,
    max_abs_difference, rms_difference, mean_abs_relative, max_abs_relative).
    ``skipped``: outputs not compared, with the reason. ``scan_a``/``scan_b``: the two scans.
    """

    a: str
    b: str
    frame: pandas.DataFrame
    summary: pandas.DataFrame
    compared: list[str]
    skipped: dict[str, str]
    scan_a: ScanResult
    scan_b: ScanResult
    compare_id: str = ""
    seconds: float = 0.0
    flow_run_id: Optional[UUID] = None
    units: dict[str, Optional[str]] = field(default_factory=dict)

    @property
    def tag(self) -> str:
        """The tag of every result the two scans computed."""
        return f"compare:{self.compare_id}"

    def __repr__(self) -> str:
        skipped = f", {len(self.skipped)} skipped" if self.skipped else ""
        return (f"ModelComparison({self.a} vs {self.b}: {self.scan_a.points} points, "
                f"{len(self.compared)} outputs compared{skipped}, {self.seconds:.2f} s)")


def compare_models(
    a: ModelRef,
    b: ModelRef,
    points: Any,
    *,
    outputs: Optional[Sequence[str]] = None,
    services: LumeServices | str | None = None,
    plot: bool = True,
    tags: Sequence[str] = (),
    **scan_options: Any,
) -> ModelComparison:
    """Run registered models ``a`` and ``b`` on the same ``points`` and compare their outputs.

    ``a`` and ``b``: a model name (its live version), ``"name@version"`` or ``(name, version)``;
    ``b`` is the reference of the relative difference. ``points``: what ``run_scan`` takes (a
    list of dicts, a grid, a DataFrame, a CSV/Parquet path); they are checked against both
    models before either runs. ``outputs``: the outputs to compare (default: every output of
    both). Outputs of one model only are skipped (``.skipped`` says why); an output whose
    declared units differ is refused (``UnitMismatch``), not converted. Every other keyword
    goes to ``run_scan`` (``executor``, ``batch_size``, ``workers``, ``refresh``, ...).

    Both scans are subflows of one ``lume-compare`` flow run, whose page shows a plot of the
    compared outputs and the summary table (``plot=False``: the table only); the scans'
    results carry the tag ``compare:<id>``.

    Examples:
        ```python
        from lume_prefect import compare_models

        comparison = compare_models("toy-beam@1.0.0", "toy-beam@1.1.0", {"sigma_x": [1e-3, 2e-3]})
        comparison.summary[["max_abs_difference", "max_abs_relative"]]
        ```
    """
    from lume_prefect.models.flows import using_services
    from lume_prefect.models.subflow import run_flow_in_process

    plan = _Comparison.make(a, b, points, outputs=outputs, services=services, plot=plot, tags=tags, scan_options=scan_options)
    _plans[plan.compare_id] = plan
    try:
        with using_services(plan.env):
            state = run_flow_in_process(_compare_flow(), {"compare_id": plan.compare_id, "a": plan.label_a, "b": plan.label_b,
                                                          "points": len(plan.points)})
        state.result()
        return plan.result
    finally:
        del _plans[plan.compare_id]


def model_ref(ref: Any) -> tuple[str, Optional[str]]:
    """(name, version or None) of ``"name"``, ``"name@version"`` or ``(name, version)``."""
    if isinstance(ref, tuple) and len(ref) == 2 and isinstance(ref[0], str):
        return ref[0], ref[1]
    if isinstance(ref, str) and ref:
        name, _, version = ref.partition("@")
        if name and (version or not ref.endswith("@")):
            return name, version or None
    raise ValueError(f"a model to compare is a name, 'name@version' or (name, version), got {ref!r}")


_plans: dict[str, _Comparison] = {}
_flow: Any = None


def _compare_flow() -> Any:
    """The ``lume-compare`` flow, made on first use (importing this module does not import Prefect)."""
    global _flow
    if _flow is None:
        from prefect import flow

        from lume_prefect.models.cancellation import cancelled_not_crashed

        @flow(name="lume-compare", validate_parameters=False, flow_run_name="compare {a} vs {b}", on_crashed=[cancelled_not_crashed])
        def lume_compare(compare_id: str, a: str, b: str, points: int) -> dict[str, Any]:
            plan = _plans[compare_id]
            plan.result = plan.run()
            return {"compared": plan.result.compared, "skipped": plan.result.skipped, "seconds": round(plan.result.seconds, 3)}

        _flow = lume_compare
    return _flow


class _Comparison:
    """Two checked scans of the same points and the outputs they share."""

    @classmethod
    def make(cls, a: Any, b: Any, points: Any, *, outputs: Optional[Sequence[str]], services: Any, plot: bool,
             tags: Sequence[str], scan_options: dict[str, Any]) -> _Comparison:
        from lume_prefect.core.resolve import resolve
        from lume_prefect.scans.points import as_points, check_points
        from lume_prefect.scans.run import run_scan

        unknown = sorted(set(scan_options) - _scan_options(run_scan))
        if unknown:
            raise TypeError(f"compare_models got unknown options {', '.join(unknown)}; run_scan takes {', '.join(sorted(_scan_options(run_scan)))}")
        self = cls()
        self.started = time.perf_counter()
        self.env = resolve(services, "services")
        self.services, self.plot, self.scan_options = services, plot, scan_options
        self.spec_a, self.spec_b = _registered_spec(self.env, *model_ref(a)), _registered_spec(self.env, *model_ref(b))
        self.label_a, self.label_b = f"{self.spec_a.name} {self.spec_a.version}", f"{self.spec_b.name} {self.spec_b.version}"
        self.compared, self.skipped, self.units = _outputs_to_compare(self.spec_a, self.spec_b, outputs, self.label_a, self.label_b)
        self.points = as_points(self.spec_a.name, points)
        for spec in (self.spec_a, self.spec_b):  # both before either runs: nothing is stored for a scan B would refuse
            check_points(spec, self.points)
        self.compare_id = uuid.uuid4().hex[:12]
        self.tags = [f"compare:{self.compare_id}", *tags]
        return self

    def run(self) -> ModelComparison:
        from prefect import get_run_logger

        from lume_prefect.results.artifacts import current_flow_run_id
        from lume_prefect.scans.differences import difference_frame, summarise
        from lume_prefect.scans.run import run_scan

        log = get_run_logger()
        options = {"services": self.services, "tags": self.tags, **self.scan_options}
        scan_a = run_scan(self.spec_a.name, self.points, self.spec_a.version, **options)
        scan_b = run_scan(self.spec_b.name, self.points, self.spec_b.version, **options)
        frame, skipped = difference_frame(scan_a.frame, scan_b.frame, self.compared, self.points)
        result = ModelComparison(
            a=self.label_a, b=self.label_b, frame=frame, summary=summarise(frame, self.units), compared=list(dict.fromkeys(frame["output"])),
            skipped={**self.skipped, **skipped}, scan_a=scan_a, scan_b=scan_b, compare_id=self.compare_id,
            seconds=time.perf_counter() - self.started, flow_run_id=current_flow_run_id(), units=self.units,
        )
        for output, reason in result.skipped.items():
            log.warning("compare %s: output %r not compared: %s", self.compare_id, output, reason)
        publish_comparison(result, self.plot)
        log.info("compare %s: %r", self.compare_id, result)
        return result


def _scan_options(run_scan: Any) -> set[str]:
    # run_scan's keyword options but those compare_models sets itself
    return {n for n, p in inspect.signature(run_scan).parameters.items() if p.kind is p.KEYWORD_ONLY} - {"services", "tags", "plot"}


def _registered_spec(env: Any, model: str, version: Optional[str]) -> ModelSpec:
    from lume_prefect.models.contract import ModelSpec
    from lume_prefect.models.lookup import registered_version

    registered = registered_version(env.registry, model, version)
    return ModelSpec.from_parameters_schema(registered.parameters_schema, registered.model, registered.version)


def _outputs_to_compare(spec_a: ModelSpec, spec_b: ModelSpec, wanted: Optional[Sequence[str]], label_a: str,
                        label_b: str) -> tuple[list[str], dict[str, str], dict[str, Optional[str]]]:
    """(outputs to compare in A's order, skipped outputs with the reason, units of each compared output)."""
    outputs_a, outputs_b = {v.name: v for v in spec_a.outputs}, {v.name: v for v in spec_b.outputs}
    if wanted is not None:
        if isinstance(wanted, str):
            wanted = [wanted]
        absent = [f"{name!r} ({'not an output of ' + ' nor '.join(m for m, o in ((label_a, outputs_a), (label_b, outputs_b)) if name not in o)})"
                  for name in wanted if name not in outputs_a or name not in outputs_b]
        if absent:
            raise NothingToCompare(label_a, label_b, f"outputs= names {', '.join(absent)}; both have: {', '.join(o for o in outputs_a if o in outputs_b) or 'none'}")
        names = list(dict.fromkeys(wanted))
        skipped: dict[str, str] = {}
    else:
        names = [o for o in outputs_a if o in outputs_b]
        skipped = {o: f"an output of {label_a} only" for o in outputs_a if o not in outputs_b}
        skipped |= {o: f"an output of {label_b} only" for o in outputs_b if o not in outputs_a}
    if not names:
        raise NothingToCompare(label_a, label_b, f"no output in common ({label_a}: {', '.join(outputs_a) or 'none'}; "
                                                 f"{label_b}: {', '.join(outputs_b) or 'none'})")
    units: dict[str, Optional[str]] = {}
    for name in names:
        unit_a, unit_b = (_unit(o[name].units) for o in (outputs_a, outputs_b))
        if unit_a and unit_b and unit_a != unit_b:
            raise UnitMismatch(name, label_a, unit_a, label_b, unit_b)
        units[name] = unit_a or unit_b
    return names, skipped, units


def _unit(text: Optional[str]) -> Optional[str]:
    return " ".join(text.split()) if text and text.strip() else None


def publish_comparison(comparison: ModelComparison, plot: bool) -> None:
    """On the compare flow run's page: the plot with the summary (markdown) and the summary as a table."""
    import base64
    import json

    from lume_prefect.results.artifacts import create_flow_run_artifact
    from lume_prefect.results.plots import png_bytes
    from lume_prefect.scans.differences import plot_comparison

    key = f"compare-{comparison.compare_id}"
    caption = f"{comparison.a} (A) vs {comparison.b} (B): {comparison.scan_a.points} points"
    rows = summary_records(comparison)
    table = "| " + " | ".join(rows[0]) + " |\n|" + "---|" * len(rows[0]) + "\n" if rows else ""
    table += "".join("| " + " | ".join("" if v is None else f"{v:.4g}" if isinstance(v, float) else str(v) for v in row.values()) + " |\n" for row in rows)
    skipped = "".join(f"\n- `{o}` not compared: {why}" for o, why in comparison.skipped.items())
    figure = plot_comparison(comparison) if plot else None
    image = f"![{caption}](data:image/png;base64,{base64.b64encode(png_bytes(figure)).decode()})\n\n" if figure is not None else ""
    create_flow_run_artifact("markdown", key, f"## {caption}\n\n{image}{table}{skipped}", image.strip() or caption)
    create_flow_run_artifact("table", f"{key}-summary", json.dumps(rows, allow_nan=False), f"Differences per output: {caption}")


def summary_records(comparison: ModelComparison) -> list[dict[str, Any]]:
    """The summary as JSON-able rows (``output`` first; NaN as None, infinities as strings)."""
    return [{"output": output, **{k: _cell(v) for k, v in values.items()}} for output, values in comparison.summary.to_dict(orient="index").items()]


def _cell(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else str(value)  # JSON has no NaN or infinity
    return value.item() if hasattr(value, "item") else value
