"""The points of a scan: from a list of dicts, a grid, a DataFrame or a CSV/Parquet file, all checked at once."""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lume_prefect.scans.errors import BadPoint, EmptyScan, InvalidPoints

if TYPE_CHECKING:
    from lume_prefect.models.contract import ModelSpec

TABLE_SUFFIXES = (".csv", ".parquet", ".pq")


def as_points(model: str, points: Any) -> list[dict[str, Any]]:
    """The points of a scan as a list of input dicts.

    ``points`` is a list of dicts; a grid ``{"k1": [...], "k2": [...]}`` (the Cartesian
    product, the last name varying fastest; a scalar is a one-value axis); a pandas DataFrame
    (one point per row, one input per column); or the path of a CSV or Parquet file of one.
    """
    import pandas

    if isinstance(points, (str, os.PathLike)):
        points = _read_table(model, Path(points))
    if isinstance(points, pandas.DataFrame):
        if points.empty:
            raise EmptyScan(model, f"the table has {len(points)} rows and {len(points.columns)} columns")
        return [{k: _plain(v) for k, v in row.items() if not _missing(v)} for row in points.to_dict(orient="records")]
    if isinstance(points, Mapping):
        return _grid(model, points)
    if isinstance(points, Sequence) and not isinstance(points, (str, bytes)):
        listed = list(points)
        if not listed:
            raise EmptyScan(model, "the list of points is empty")
        for i, point in enumerate(listed):
            if not isinstance(point, Mapping):
                raise TypeError(f"points[{i}] must be a dict of input names to values, got {type(point).__name__} {point!r}")
        return [dict(point) for point in listed]
    raise TypeError(
        f"points must be a list of dicts, a grid dict of lists, a DataFrame or a CSV/Parquet path, got {type(points).__name__}"
    )


def _grid(model: str, grid: Mapping[str, Any]) -> list[dict[str, Any]]:
    if not grid:
        raise EmptyScan(model, "the grid has no variables")
    axes: dict[str, list[Any]] = {}
    for name, values in grid.items():
        if isinstance(values, (str, bytes, Mapping)) or not hasattr(values, "__iter__"):
            values = [values]  # a fixed input
        axes[name] = [_plain(v) for v in values]
        if not axes[name]:
            raise EmptyScan(model, f"grid variable {name!r} has no values")
    names = list(axes)
    return [dict(zip(names, combination)) for combination in itertools.product(*axes.values())]


def _read_table(model: str, path: Path) -> Any:
    import pandas

    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise ValueError(f"points file {str(path)!r}: expected a {', '.join(TABLE_SUFFIXES)} file")
    if not path.is_file():
        raise FileNotFoundError(f"points file {str(path)!r} does not exist")
    return pandas.read_csv(path) if suffix == ".csv" else pandas.read_parquet(path)


def _plain(value: Any) -> Any:
    """A NumPy scalar as its Python value (the key is the same; JSON and the UI prefer it)."""
    item = getattr(value, "item", None)
    return item() if callable(item) and getattr(value, "ndim", None) == 0 else value


def _missing(value: Any) -> bool:
    # an empty cell of a table: the input takes its default
    return value is None or isinstance(value, float) and math.isnan(value)


def check_points(spec: ModelSpec, points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every point checked against ``spec`` before anything runs: the completed input values,
    or InvalidPoints listing every bad point (index, variable, value, allowed range)."""
    checked: list[dict[str, Any]] = []
    bad: list[BadPoint] = []
    check = spec.check_inputs
    for index, point in enumerate(points):
        values, problems = check(point)
        if problems:
            for problem in problems:
                variable = problem.variable
                try:
                    allowed = spec.input(variable).describe_range()
                except KeyError:
                    allowed = "not an input"
                bad.append(BadPoint(index, variable, point.get(variable), allowed, problem.problem))
        else:
            checked.append(values)
    if bad:
        raise InvalidPoints(spec.name, spec.version, len(points), bad)
    return checked
