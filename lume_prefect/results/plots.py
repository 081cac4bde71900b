"""Figures of results, without Prefect: an output against an input, or an output over time.

Columns are those of ``results_to_dataframe``; a short name (``emittance``) is looked up as
``outputs.emittance`` then ``inputs.emittance``, so callers rarely spell the prefix.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal

from lume_prefect.results.result import Result
from lume_prefect.results.store import results_to_dataframe

if TYPE_CHECKING:
    import pandas
    from matplotlib.figure import Figure

PlotKind = Literal["scatter", "line", "history"]
PLOT_KINDS = ("scatter", "line", "history")


def as_frame(data: Any) -> pandas.DataFrame:
    """A DataFrame of results from a DataFrame, or from an iterable of Results."""
    import pandas

    if isinstance(data, pandas.DataFrame):
        return data
    if isinstance(data, Iterable) and not isinstance(data, (str, bytes, dict)):
        items = list(data)
        if all(isinstance(item, Result) for item in items):
            return results_to_dataframe(items)
    raise TypeError(f"data must be a DataFrame or a list of Results, got {type(data).__name__}")


def column(frame: pandas.DataFrame, name: str, prefer: str = "outputs") -> str:
    """The column ``name`` names: itself, else ``<prefer>.name``, else the other prefix."""
    other = "inputs" if prefer == "outputs" else "outputs"
    for candidate in (name, f"{prefer}.{name}", f"{other}.{name}"):
        if candidate in frame.columns:
            return candidate
    numeric = [c for c in frame.columns if c.startswith(("inputs.", "outputs."))]
    raise KeyError(f"no column {name!r} among the results' columns: {', '.join(numeric) or '(no inputs or outputs)'}")


def plot_frame(
    frame: pandas.DataFrame,
    y: str,
    x: str | None = None,
    kind: PlotKind = "scatter",
    title: str | None = None,
    units: Mapping[str, str] | None = None,
) -> tuple[Figure, list[str]]:
    """A figure of column ``y`` against ``x`` (scatter or line) or against time (history).

    Returns the figure and the columns it used. Rows where either value is missing or not
    a number are left out; one line or point set per model version when several are present.
    ``units`` (by column, e.g. ``ModelSpec.units()``) label the axes: ``outputs.rms_x [m]``.
    """
    import pandas
    from matplotlib.figure import Figure

    if kind not in PLOT_KINDS:
        raise ValueError(f"kind must be one of {', '.join(PLOT_KINDS)}, got {kind!r}")
    if kind != "history" and x is None:
        raise ValueError(f"a {kind} plot needs x (an input or output name)")
    y_column = column(frame, y, "outputs")
    x_column = "created" if kind == "history" else column(frame, x, "inputs")  # type: ignore[arg-type]
    data = pandas.DataFrame({"x": frame[x_column], "y": pandas.to_numeric(frame[y_column], errors="coerce")})
    if kind != "history":
        data["x"] = pandas.to_numeric(data["x"], errors="coerce")
    data["version"] = frame["version"] if "version" in frame.columns else ""
    data = data.dropna(subset=["x", "y"]).sort_values("x")

    figure = Figure(figsize=(6.4, 4.2), layout="constrained")
    axes = figure.subplots()
    for version, group in data.groupby("version", sort=True):
        label = f"version {version}" if version else None
        if kind == "scatter":
            axes.scatter(group["x"], group["y"], s=18, label=label)
        else:
            axes.plot(group["x"], group["y"], marker="o", markersize=3, label=label)
    axes.set_xlabel("time (UTC)" if kind == "history" else _label(x_column, units))
    axes.set_ylabel(_label(y_column, units))
    axes.set_title(title or (f"{y_column} over time" if kind == "history" else f"{y_column} vs {x_column}"))
    axes.grid(True, alpha=0.3)
    if data["version"].nunique() > 1:
        axes.legend()
    if kind == "history":
        figure.autofmt_xdate()
    if data.empty:
        axes.text(0.5, 0.5, "no numeric data", ha="center", va="center", transform=axes.transAxes)
    return figure, [c for c in ("key", "created", "version", x_column, y_column) if c in frame.columns]


def _label(name: str, units: Mapping[str, str] | None) -> str:
    unit = (units or {}).get(name)
    return f"{name} [{unit}]" if unit else name


def image_format(path: Any) -> str:
    """The image format a file name's extension names (``png`` without one); a ValueError
    listing the formats Matplotlib writes for any other extension."""
    from pathlib import PurePath

    from matplotlib.backend_bases import FigureCanvasBase

    suffix = PurePath(path).suffix.lower().lstrip(".")
    if not suffix:
        return "png"
    formats = FigureCanvasBase.get_supported_filetypes()
    if suffix not in formats:
        raise ValueError(f"{str(path)!r}: cannot write a figure as .{suffix}; give one of {', '.join('.' + f for f in sorted(formats))}")
    return suffix


def png_bytes(figure: Figure, dpi: int = 100) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()
