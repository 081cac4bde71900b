"""The differences of two scans of the same points, output by output, without Prefect: the
long frame, its summary per output and the figure (``scans.compare`` runs the scans)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Optional

if TYPE_CHECKING:
    import pandas
    from matplotlib.figure import Figure

    from lume_prefect.scans.compare import ModelComparison

MAX_PLOTTED = 6  # outputs in the plot artifact; every output is in the frame and the summary
FRAME_COLUMNS = ["point", "output", "a", "b", "difference", "relative_difference", "equal", "error"]


def difference_frame(frame_a: pandas.DataFrame, frame_b: pandas.DataFrame, outputs: Sequence[str],
                     points: Sequence[dict[str, Any]]) -> tuple[pandas.DataFrame, dict[str, str]]:
    """The long frame of differences of two scans' frames (same points, same order) and the
    output columns skipped (a dict output's field in one model's results only).

    A dict output is compared field by field (``outputs.beam.sigma_x`` is output ``beam.sigma_x``)."""
    import pandas

    columns: list[str] = []
    skipped: dict[str, str] = {}
    for name in outputs:
        own = lambda frame: [c for c in frame.columns if c == f"outputs.{name}" or c.startswith(f"outputs.{name}.")]  # noqa: E731
        in_a, in_b = own(frame_a), own(frame_b)
        columns += [c for c in in_a if c in in_b] or ([f"outputs.{name}"] if not in_a and not in_b else [])
        for column, which in [(c, "A") for c in in_a if c not in in_b] + [(c, "B") for c in in_b if c not in in_a]:
            skipped[column.removeprefix("outputs.")] = f"a field of output {name!r} in the results of model {which} only"
    input_names = list(dict.fromkeys(k for p in points for k in p))
    errors_a, errors_b = frame_a["error"].tolist(), frame_b["error"].tolist()
    rows: list[dict[str, Any]] = []
    for column in columns:
        output = column.removeprefix("outputs.")
        values_a = frame_a[column].tolist() if column in frame_a.columns else [None] * len(frame_a)
        values_b = frame_b[column].tolist() if column in frame_b.columns else [None] * len(frame_b)
        for index, point in enumerate(points):
            row: dict[str, Any] = {"point": index}
            row |= {f"inputs.{name}": point.get(name) for name in input_names}
            failed = [f"failed in {m}: {e}" for m, e in (("A", errors_a[index]), ("B", errors_b[index])) if isinstance(e, str) and e]
            value_a, value_b = values_a[index], values_b[index]
            difference, relative, equal, error = (math.nan, math.nan, False, "; ".join(failed)) if failed else compare_values(value_a, value_b)
            rows.append(row | {"output": output, "a": value_a, "b": value_b, "difference": difference,
                               "relative_difference": relative, "equal": equal, "error": error})
    frame = pandas.DataFrame.from_records(rows)
    order = ["point", *(f"inputs.{n}" for n in input_names), *FRAME_COLUMNS[1:]]
    return (frame[order] if len(frame) else pandas.DataFrame(columns=order)), skipped


def compare_values(a: Any, b: Any) -> tuple[float, float, bool, Optional[str]]:
    """(difference, relative difference, equal, why there is no difference) of two output values.

    Numbers: a - b and (a - b) / |b| (0 where both are 0, ±inf where only b is). Arrays of one
    shape: the largest |a - b| element-wise and ||a - b|| / ||b|| (L2). Anything else (strings,
    booleans, None): equal or not, no difference."""
    import numpy

    if _is_number(a) and _is_number(b):
        a, b = float(a), float(b)
        difference = a - b
        return difference, _relative(difference, abs(b)), a == b, None
    array_a, array_b = _numeric_array(a), _numeric_array(b)
    if array_a is not None and array_b is not None:
        if array_a.shape != array_b.shape:
            return math.nan, math.nan, False, f"shapes differ: {array_a.shape} (A) vs {array_b.shape} (B)"
        delta = array_a - array_b
        largest = float(numpy.max(numpy.abs(delta))) if delta.size else 0.0
        return largest, _relative(float(numpy.linalg.norm(delta)), float(numpy.linalg.norm(array_b))), bool(numpy.array_equal(array_a, array_b)), None
    try:
        equal = bool(a == b)
    except (TypeError, ValueError):
        equal = False
    return math.nan, math.nan, equal, None


def _is_number(value: Any) -> bool:
    from numbers import Real

    return isinstance(value, Real) and not isinstance(value, bool)


def _numeric_array(value: Any) -> Any:
    """``value`` as a float NumPy array if it is an array or a (nested) list of numbers, else None."""
    import numpy

    if isinstance(value, (str, bytes, dict)) or value is None or _is_number(value) or isinstance(value, bool):
        return None
    if not isinstance(value, (numpy.ndarray, list, tuple)):
        return None
    try:
        array = numpy.asarray(value)
    except ValueError:  # ragged lists
        return None
    return array.astype(float) if array.dtype.kind in "iuf" else None


def _relative(difference: float, reference: float) -> float:
    if reference:
        return difference / reference
    return 0.0 if difference == 0 else math.copysign(math.inf, difference)


SUMMARY_COLUMNS = ["units", "points", "compared", "equal", "mean_difference", "max_abs_difference", "rms_difference",
                   "mean_abs_relative", "max_abs_relative"]


def summarise(frame: pandas.DataFrame, units: dict[str, Optional[str]]) -> pandas.DataFrame:
    """One row per output of the difference frame: how many points, how many compared, and the
    statistics of the differences (NaN where none was compared)."""
    import numpy
    import pandas

    rows = {}
    for output, group in frame.groupby("output", sort=False):
        difference = pandas.to_numeric(group["difference"], errors="coerce")
        relative = pandas.to_numeric(group["relative_difference"], errors="coerce").abs()
        known = difference.notna()
        rows[output] = {
            "units": units.get(str(output).split(".")[0], units.get(str(output))),
            "points": len(group), "compared": int(known.sum()), "equal": int(group["equal"].sum()),
            "mean_difference": difference.mean(), "max_abs_difference": difference.abs().max(),
            "rms_difference": float(numpy.sqrt((difference[known] ** 2).mean())) if known.any() else math.nan,
            "mean_abs_relative": relative.mean(), "max_abs_relative": relative.max(),
        }
    summary = pandas.DataFrame.from_dict(rows, orient="index", columns=SUMMARY_COLUMNS)
    summary["units"] = pandas.Series([row["units"] for row in rows.values()], index=summary.index, dtype=object)  # None, not NaN
    summary.index.name = "output"
    return summary


def plot_comparison(comparison: ModelComparison) -> Optional[Figure]:
    """Per numeric output (up to ``MAX_PLOTTED``): both models against the scanned input when one
    input varies (else B against A, the diagonal being agreement), and the relative difference."""
    import pandas
    from matplotlib.figure import Figure

    frame = comparison.frame
    numeric = [o for o in comparison.compared if _plottable(frame[frame["output"] == o])][:MAX_PLOTTED]
    if not numeric:
        return None
    varying = [c for c in frame.columns if c.startswith("inputs.") and pandas.to_numeric(frame[c], errors="coerce").nunique() > 1]
    x = varying[0] if len(varying) == 1 else None
    figure = Figure(figsize=(9.6, 2.8 * len(numeric)), layout="constrained")
    axes = figure.subplots(len(numeric), 2, squeeze=False)
    for row, output in zip(axes, numeric):
        group = frame[frame["output"] == output]
        group = group.assign(a=pandas.to_numeric(group["a"], errors="coerce"), b=pandas.to_numeric(group["b"], errors="coerce"))
        unit = comparison.units.get(output.split(".")[0])
        label = f"{output} [{unit}]" if unit else output
        if x is not None:
            group = group.sort_values(x)
            row[0].plot(group[x], group["b"], marker="o", markersize=3, label=f"B: {comparison.b}")
            row[0].plot(group[x], group["a"], marker="x", markersize=4, linestyle="--", label=f"A: {comparison.a}")
            row[0].set_xlabel(x.removeprefix("inputs."))
            row[0].set_ylabel(label)
            row[0].legend(fontsize="small")
            row[1].plot(group[x], group["relative_difference"], marker="o", markersize=3)
            row[1].set_xlabel(x.removeprefix("inputs."))
        else:
            row[0].scatter(group["b"], group["a"], s=14)
            low, high = min(group["a"].min(), group["b"].min()), max(group["a"].max(), group["b"].max())
            row[0].plot([low, high], [low, high], color="grey", linewidth=0.8)
            row[0].set_xlabel(f"B: {comparison.b}")
            row[0].set_ylabel(f"A: {comparison.a}")
            row[0].set_title(label)
            row[1].plot(group["point"], group["relative_difference"], marker="o", markersize=3, linestyle="none")
            row[1].set_xlabel("point")
        row[1].axhline(0.0, color="grey", linewidth=0.8)
        row[1].set_ylabel(f"(A - B) / |B| of {output}")
        for axis in row:
            axis.grid(True, alpha=0.3)
    figure.suptitle(f"{comparison.a} (A) vs {comparison.b} (B)")
    return figure


def _plottable(group: pandas.DataFrame) -> bool:
    import pandas

    return bool(group["a"].map(_is_number).all() and group["b"].map(_is_number).all()
                and pandas.to_numeric(group["difference"], errors="coerce").notna().any())
