"""The points of a scan: from a list of dicts, a grid, a DataFrame or a CSV/Parquet file, all checked at once."""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lume_prefect.scans.errors import BadPoint, EmptyScan, InvalidPoints, TooManyPoints

if TYPE_CHECKING:
    from lume_prefect.models.contract import ModelSpec

TABLE_SUFFIXES = (".csv", ".parquet", ".pq")
# Points of one scan unless the caller says more (max_points): every point is held in memory
# (inputs, key, result) while the scan runs, about a kilobyte each; a grid or a table is
# counted before its points are built, so a mistyped 10^8-point grid is refused in milliseconds.
MAX_POINTS = 1_000_000


def check_max_points(max_points: Any) -> int:
    """``max_points`` (None: ``MAX_POINTS``), checked."""
    if max_points is None:
        return MAX_POINTS
    if type(max_points) is not int or max_points < 1:
        raise ValueError(f"max_points must be a positive int, got {max_points!r}")
    return max_points


def as_points(model: str, points: Any, max_points: int = MAX_POINTS) -> list[dict[str, Any]]:
    """The points of a scan as a list of input dicts.

    ``points`` is a list of dicts; a grid ``{"k1": [...], "k2": [...]}`` (the Cartesian
    product, the last name varying fastest; a scalar is a one-value axis); a pandas DataFrame
    (one point per row, one input per column); or the path of a CSV or Parquet file of one.
    More than ``max_points`` points is TooManyPoints, raised before they are built.
    """
    import pandas

    source = "the table"
    if isinstance(points, (str, os.PathLike)):
        source = f"points file {str(points)!r}"
        points = _read_table(model, Path(points), max_points)
    if isinstance(points, pandas.DataFrame):
        if points.empty:
            raise EmptyScan(model, f"{source} has {len(points)} rows and {len(points.columns)} columns")
        if len(points) > max_points:
            raise TooManyPoints(model, len(points), max_points, "the table")
        return [{k: _plain(v) for k, v in row.items() if not _missing(v)} for row in points.to_dict(orient="records")]
    if isinstance(points, Mapping):
        return _grid(model, points, max_points)
    if isinstance(points, Sequence) and not isinstance(points, (str, bytes)):
        listed = list(points)
        if not listed:
            raise EmptyScan(model, "the list of points is empty")
        if len(listed) > max_points:
            raise TooManyPoints(model, len(listed), max_points, "the list")
        for i, point in enumerate(listed):
            if not isinstance(point, Mapping):
                raise TypeError(f"points[{i}] must be a dict of input names to values, got {type(point).__name__} {point!r}")
        return [dict(point) for point in listed]
    raise TypeError(
        f"points must be a list of dicts, a grid dict of lists, a DataFrame or a CSV/Parquet path, got {type(points).__name__}"
    )


def _grid(model: str, grid: Mapping[str, Any], max_points: int = MAX_POINTS) -> list[dict[str, Any]]:
    if not grid:
        raise EmptyScan(model, "the grid has no variables")
    axes: dict[str, list[Any]] = {}
    fixed = {name: isinstance(values, (str, bytes, Mapping)) or not hasattr(values, "__iter__") for name, values in grid.items()}
    sizes = [1 if fixed[name] else len(values) for name, values in grid.items() if fixed[name] or hasattr(values, "__len__")]
    if len(sizes) == len(grid) and math.prod(sizes) > max_points:  # counted before any axis is listed
        raise TooManyPoints(model, math.prod(sizes), max_points, "the grid")
    for name, values in grid.items():
        if fixed[name]:
            values = [values]  # a fixed input
        axes[name] = [_plain(v) for v in itertools.islice(values, max_points + 1)]
        if len(axes[name]) > max_points:
            raise TooManyPoints(model, len(axes[name]), max_points, f"grid variable {name!r} alone")
        if not axes[name]:
            raise EmptyScan(model, f"grid variable {name!r} has no values")
    names = list(axes)
    total = math.prod(len(values) for values in axes.values())
    if total > max_points:
        raise TooManyPoints(model, total, max_points, "the grid")
    return [dict(zip(names, combination)) for combination in itertools.product(*axes.values())]


class EvenlySpaced(Sequence[float]):
    """``count`` floats from ``low`` to ``high`` (both ends), computed when read: a grid axis
    is counted before its values are listed."""

    def __init__(self, low: float, high: float, count: int):
        self.low, self.high, self.count = low, high, count

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self.count))]
        if not -self.count <= index < self.count:
            raise IndexError(index)
        i = index % self.count
        return self.low + (self.high - self.low) * i / (self.count - 1) if self.count > 1 else self.low

    def __eq__(self, other: object) -> bool:
        return list(self) == list(other) if isinstance(other, (list, tuple, EvenlySpaced)) else NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"EvenlySpaced({self.low!r}, {self.high!r}, {self.count})"


def _read_table(model: str, path: Path, max_points: int = MAX_POINTS) -> Any:
    import pandas

    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise ValueError(f"points file {str(path)!r}: expected a {', '.join(TABLE_SUFFIXES)} file")
    if not path.is_file():
        raise FileNotFoundError(f"points file {str(path)!r} does not exist")
    rows = _table_rows(path, suffix, max_points)  # counted by streaming the file, before it is read into memory
    if rows > max_points:
        raise TooManyPoints(model, rows, max_points, f"points file {str(path)!r}")
    if suffix == ".csv" and rows <= 1 and not path.read_bytes()[:1 << 16].strip():  # blank lines only
        raise EmptyScan(model, f"points file {str(path)!r} is empty (a CSV file needs a header line of input names, then one point per line)")
    try:
        # nrows: never more rows in memory than the limit allows, whatever the count said
        table = pandas.read_csv(path, nrows=max_points + 1) if suffix == ".csv" else pandas.read_parquet(path)
    except (ValueError, OSError) as exc:  # pandas' parser errors are ValueErrors; pyarrow's ArrowInvalid too
        raise ValueError(f"points file {str(path)!r} cannot be read as {suffix.lstrip('.')}: {exc}") from None
    if len(table) > max_points:
        raise TooManyPoints(model, max(rows, len(table)), max_points, f"points file {str(path)!r}")
    return table


def _table_rows(path: Path, suffix: str, limit: int) -> int:
    """Rows of a Parquet file (its footer says) or of a CSV file, streamed, never held whole:
    its lines less the header (never fewer than its rows); if that is above ``limit``, its rows
    as the csv module and pandas read them (a quoted value may hold line breaks; a blank line
    is no row), so that a file within the limit is not refused and the refusal names its count."""
    if suffix != ".csv":
        import pyarrow.parquet

        return pyarrow.parquet.ParquetFile(path).metadata.num_rows
    lines = _csv_lines(path)
    return lines if lines <= limit else _csv_rows(path)


def _csv_lines(path: Path) -> int:
    """The lines of a CSV file less the header, counted in 1 MiB chunks (fast: bytes.count).
    A line ends as pandas reads it: in LF, CRLF or a lone CR."""
    lines, last = 0, b"\n"
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            lines += chunk.count(b"\n") + chunk.count(b"\r") - chunk.count(b"\r\n")
            if last == b"\r" and chunk[:1] == b"\n":
                lines -= 1  # a CRLF split between two chunks
            last = chunk[-1:]
    return max(0, lines + (last not in b"\r\n") - 1)


def _csv_rows(path: Path) -> int:
    """The rows of a CSV file less the header, read a line at a time by the csv module: a
    quoted value's line breaks are in its row, and a blank line is no row (as pandas reads it)."""
    import csv

    try:
        with open(path, newline="", encoding="utf-8", errors="replace") as f:
            rows = sum(1 for row in csv.reader(f) if row)
    except csv.Error as exc:  # a value above csv.field_size_limit(), an unterminated quote at the end ...
        raise ValueError(f"points file {str(path)!r} cannot be read as csv: {exc}") from None
    return max(0, rows - 1)


def _plain(value: Any) -> Any:
    """A NumPy scalar as its Python value (the key is the same; JSON and the UI prefer it)."""
    item = getattr(value, "item", None)
    return item() if callable(item) and getattr(value, "ndim", None) == 0 else value


def _plain_float_points(spec: ModelSpec, points: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """The checked values of ``points`` when the spec's inputs are all floats (no choices, no
    constants) and every point gives every input a finite float within its range: what
    ``spec.check_inputs`` makes of each point (the same values, in the spec's order), checked
    column by column instead of value by value. None when any point needs more (a default,
    a conversion, a problem to report): then every point is checked by ``check_inputs``."""
    variables = spec.inputs
    if not variables or any(v.type != "float" or v.choices is not None or v.constant for v in variables):
        return None
    names = [v.name for v in variables]
    known = set(names)
    if not all(type(point) is dict and point.keys() == known for point in points):
        return None
    isfinite = math.isfinite
    columns = []
    for variable in variables:
        column = [point[variable.name] for point in points]
        if not all(type(value) is float for value in column) or not all(map(isfinite, column)):
            return None
        if variable.range is not None and variable.validation == "error":
            low, high = variable.range
            if column and not (low <= min(column) and max(column) <= high):
                return None
        columns.append(column)
    return [dict(zip(names, row)) for row in zip(*columns)]


def _missing(value: Any) -> bool:
    # an empty cell of a table: the input takes its default
    return value is None or isinstance(value, float) and math.isnan(value)


def check_points(spec: ModelSpec, points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every point checked against ``spec`` before anything runs: the completed input values,
    or InvalidPoints listing every bad point (index, variable, value, allowed range)."""
    plain = _plain_float_points(spec, points)
    if plain is not None:
        return plain
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
