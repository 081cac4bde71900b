"""Points of a scan: every input form, and every bad point reported at once (no Prefect needed)."""

from __future__ import annotations

import pickle

import pandas
import pytest

from lume_prefect.models import ModelSpec
from lume_prefect.scans.errors import EmptyScan, InvalidPoints, ScanFailed, ScanStoreError, FailedPoint
from lume_prefect.scans.points import as_points, check_points

pytestmark = pytest.mark.unit

SPEC = ModelSpec(
    name="quad", version="1.0.0",
    inputs=[
        {"name": "k1", "range": [-5, 5], "units": "1/m^2"},
        {"name": "length", "range": [0.01, 2.0], "default": 0.1, "units": "m"},
        {"name": "n", "type": "int", "default": 3},
    ],
    outputs=[{"name": "f"}],
)


def test_a_grid_is_the_cartesian_product_with_the_last_name_fastest():
    points = as_points("quad", {"k1": [1, 2, 3], "length": [0.1, 0.2]})
    assert points == [{"k1": k, "length": length} for k in (1, 2, 3) for length in (0.1, 0.2)]
    assert as_points("quad", {"k1": [1, 2], "n": 4}) == [{"k1": 1, "n": 4}, {"k1": 2, "n": 4}]  # a scalar is fixed


def test_numpy_axes_and_a_list_of_dicts():
    import numpy as np

    points = as_points("quad", {"k1": np.linspace(0, 1, 3)})
    assert points == [{"k1": 0.0}, {"k1": 0.5}, {"k1": 1.0}] and type(points[1]["k1"]) is float
    assert as_points("quad", [{"k1": 1}, {"k1": 2, "n": 5}]) == [{"k1": 1}, {"k1": 2, "n": 5}]


def test_a_dataframe_csv_and_parquet_give_one_point_per_row(tmp_path):
    frame = pandas.DataFrame({"k1": [1.0, 2.0, 3.0], "length": [0.1, None, 0.3]})
    expected = [{"k1": 1.0, "length": 0.1}, {"k1": 2.0}, {"k1": 3.0, "length": 0.3}]  # an empty cell: the default
    assert as_points("quad", frame) == expected
    frame.to_csv(tmp_path / "points.csv", index=False)
    frame.to_parquet(tmp_path / "points.parquet")
    assert as_points("quad", str(tmp_path / "points.csv")) == expected
    assert as_points("quad", tmp_path / "points.parquet") == expected
    assert check_points(SPEC, expected)[1] == {"k1": 2.0, "length": 0.1, "n": 3}


@pytest.mark.parametrize("points, detail", [
    ([], "the list of points is empty"),
    ({}, "the grid has no variables"),
    ({"k1": [1, 2], "length": []}, "grid variable 'length' has no values"),
    (pandas.DataFrame({"k1": []}), "the table has 0 rows"),
])
def test_an_empty_scan_is_refused_naming_why(points, detail):
    with pytest.raises(EmptyScan, match=detail) as caught:
        as_points("quad", points)
    assert "quad" in str(caught.value)


def test_wrong_kinds_of_points_are_refused(tmp_path):
    with pytest.raises(TypeError, match=r"points\[1\] must be a dict"):
        as_points("quad", [{"k1": 1}, 5])
    with pytest.raises(TypeError, match="points must be a list of dicts"):
        as_points("quad", 42)
    with pytest.raises(ValueError, match="expected a .csv"):
        as_points("quad", str(tmp_path / "points.txt"))
    with pytest.raises(FileNotFoundError, match="missing.csv"):
        as_points("quad", str(tmp_path / "missing.csv"))


def test_every_bad_point_is_reported_with_index_variable_value_and_range():
    points = [{"k1": 1}, {"k1": 7.5}, {"k1": 2, "length": 3.0, "colour": "red"}, {"length": 0.5}, {"k1": "x"}, {"k1": -1}]
    with pytest.raises(InvalidPoints) as caught:
        check_points(SPEC, points)
    error = caught.value
    found = {(b.index, b.variable, b.value, b.allowed) for b in error.bad}
    assert found == {
        (1, "k1", 7.5, "[-5, 5] 1/m^2"),
        (2, "colour", "red", "not an input"),
        (2, "length", 3.0, "[0.01, 2] m"),
        (3, "k1", None, "[-5, 5] 1/m^2"),
        (4, "k1", "x", "[-5, 5] 1/m^2"),
    }
    message = str(error)
    assert "4 of 6 points are invalid; nothing was run" in message
    assert "point 1: k1 = 7.5 is outside its range [-5, 5] 1/m^2" in message
    assert "point 3: k1 is required" in message and "point 4: k1 must be float, got str 'x'" in message


def test_a_long_list_of_bad_points_is_shortened_in_the_message_but_complete_on_the_error():
    with pytest.raises(InvalidPoints) as caught:
        check_points(SPEC, [{"k1": 10 + i} for i in range(50)])
    assert len(caught.value.bad) == 50 and "... and 30 more (all in .bad)" in str(caught.value)


def test_valid_points_are_converted_and_completed_like_a_single_run():
    assert check_points(SPEC, [{"k1": 1, "n": 2.0}]) == [SPEC.validate_inputs({"k1": 1, "n": 2.0})] == [{"k1": 1.0, "length": 0.1, "n": 2}]


def test_scan_errors_keep_their_type_and_fields_through_pickle():
    with pytest.raises(InvalidPoints) as caught:
        check_points(SPEC, [{"k1": 9}])
    for error in (caught.value, EmptyScan("quad", "the list of points is empty"),
                  ScanFailed("quad", "1.0.0", [FailedPoint(3, {"k1": 1.0}, "ValueError", "boom")]),
                  ScanStoreError("SQLResultsStore(postgresql://x)", "write", "OperationalError: down", 10, [])):
        copy = pickle.loads(pickle.dumps(error))
        assert type(copy) is type(error) and str(copy) == str(error)
    assert pickle.loads(pickle.dumps(caught.value)).bad == caught.value.bad


FLOATS = ModelSpec(
    name="floats", version="1.0.0",
    inputs=[
        {"name": "x", "range": [0.0, 1.0]},
        {"name": "QUAD:IN20:425:BCTRL", "range": [-1.0, 1.0], "default": 0.5},
        {"name": "w", "range": [0.0, 1.0], "validation": "warn"},
    ],
    outputs=[{"name": "f"}],
)


@pytest.mark.parametrize("points", [
    [{"x": 0.25, "QUAD:IN20:425:BCTRL": -1.0, "w": 3.5}, {"w": 0.0, "x": 1.0, "QUAD:IN20:425:BCTRL": 0.75}],  # every input a float in range (w warns)
    [{"x": 0.25, "QUAD:IN20:425:BCTRL": 1, "w": 0.5}],  # an int: converted by check_inputs
    [{"x": 0.25, "w": 0.5}],  # a default
])
def test_points_of_plain_floats_are_checked_by_columns_as_check_inputs_checks_each(points):
    checked = check_points(FLOATS, points)
    expected = [FLOATS.check_inputs(p)[0] for p in points]
    assert checked == expected
    assert [list(v) for v in checked] == [list(v) for v in expected]  # the spec's order
    assert all(type(value) is float for values in checked for value in values.values())


@pytest.mark.parametrize("bad, problem", [
    ({"x": 1.5, "QUAD:IN20:425:BCTRL": 0.0, "w": 0.5}, "outside its range"),
    ({"x": float("nan"), "QUAD:IN20:425:BCTRL": 0.0, "w": 0.5}, "not a finite number"),
    ({"x": 0.5, "QUAD:IN20:425:BCTRL": 0.0, "w": 0.5, "y": 1.0}, "is not an input"),
])
def test_a_bad_point_among_plain_floats_is_reported_as_by_check_inputs(bad, problem):
    good = {"x": 0.5, "QUAD:IN20:425:BCTRL": 0.0, "w": 0.5}
    with pytest.raises(InvalidPoints, match=problem) as raised:
        check_points(FLOATS, [good, bad, good])
    assert [b.index for b in raised.value.bad] == [1]
