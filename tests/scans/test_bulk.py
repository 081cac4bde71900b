"""The bulk results path of scans: keys column-wise (byte-identical to Result.key), Results without
per-row validation, and one query for many keys on every store (SQLite, PostgreSQL, MongoDB wire)."""

from __future__ import annotations

import numpy as np
import pytest

from lume_prefect.results import InvalidQuery, InvalidResultValue, Result
from lume_prefect.results.codec import plain_float_rows, result_key, result_keys
from lume_prefect.results.store import KEYS_PER_QUERY, trusted_results
from tests.results.test_result import PINNED_KEYS


@pytest.mark.unit
def test_result_keys_are_the_pinned_keys_of_result_key():
    for (model, version, inputs), key in PINNED_KEYS.values():
        assert result_keys(model, version, [inputs, inputs]) == [key, key]


@pytest.mark.unit
def test_result_keys_of_many_points_equal_result_key_one_by_one():
    points = [{"k1": i * 0.25, "n": i, "label": f"p{i}", "on": i % 2 == 0, "v": [i, 1.5]} for i in range(-50, 50)]
    points.append({"big": np.arange(70_000, dtype=float)})  # array data hashed apart from the rest
    assert result_keys("quad", "1.0.0", points) == [result_key("quad", "1.0.0", p) for p in points]
    assert result_keys("quad", "1.0.0", []) == []


@pytest.mark.unit
def test_result_keys_name_the_point_whose_value_cannot_be_keyed():
    with pytest.raises(InvalidResultValue, match=r"points\[2\]\.inputs\.f: cannot key a callable") as caught:
        result_keys("m", "1", [{"x": 1}, {"x": 2}, {"f": print}])
    assert caught.value.field == "points[2].inputs.f"
    with pytest.raises(InvalidResultValue, match=r"points\[0\]\.inputs: must be a dict"):
        result_keys("m", "1", [[1, 2]])


@pytest.mark.unit
def test_trusted_results_are_what_result_would_build():
    inputs = [{"k1": 1.0, "label": "a"}, {"k1": 2.0, "label": "b"}]
    outputs = [{"f": 1.0, "beam": np.arange(3)}, {"f": float("nan"), "beam": np.arange(2)}]
    built = trusted_results("quad", "1.0.0", result_keys("quad", "1.0.0", inputs), inputs, outputs, tags=["scan:x", "scan:x"])
    for result, values, outcome in zip(built, inputs, outputs):
        expected = Result(model="quad", version="1.0.0", inputs=values, outputs=outcome, tags=["scan:x"], created=result.created)
        assert result == expected and result.key == expected.key
        assert result.stored_form()[0] == expected.stored_form()[0] and result.stored_form()[2] == expected.stored_form()[2]


@pytest.mark.unit
def test_float_points_keyed_column_by_column_are_result_keys():
    # every point a dict of the same names and float values: keyed per column (the same bytes)
    odd = [0.0, -0.0, 2.0, -3.0, 1e16, 1e300, -1e-300, float("inf"), float("-inf"), float("nan"), 0.1, 5e-324]
    points = [{"b": value, "a": odd[-1 - i], "QUAD:IN20:425:BCTRL": i / 3.0} for i, value in enumerate(odd)]
    assert result_keys("m", "1.0", points) == [result_key("m", "1.0", p) for p in points]
    mixed = points + [{"b": 1, "a": 1.0, "QUAD:IN20:425:BCTRL": 1.0}]  # an int: each point keyed on its own
    assert result_keys("m", "1.0", mixed) == [result_key("m", "1.0", p) for p in mixed]
    assert result_keys("m", "1.0", [{"x": 1.0}, {"y": 1.0}]) == [result_key("m", "1.0", {"x": 1.0}), result_key("m", "1.0", {"y": 1.0})]


@pytest.mark.unit
@pytest.mark.parametrize("odd", [None, -0.0, 1e16, -2e300, float("nan"), float("inf"), 3, "s", True])
def test_plain_float_rows_are_stored_as_result_stores_them(odd):
    # rows of plain floats skip the per-value encode; one odd value anywhere sends the batch
    # through it: either way the stored trees are Result's, and the rows are not shared
    inputs = [{"x": 0.5 * i, "y": 1.25} for i in range(40)]
    outputs = [{"f": i / 7.0, "g": -1.5} for i in range(40)]
    if odd is not None:
        outputs[17]["g"] = odd
    assert plain_float_rows(inputs) and plain_float_rows(outputs) == (odd is None)
    built = trusted_results("m", "1", result_keys("m", "1", inputs), inputs, outputs)
    for result, values, outcome in zip(built, inputs, outputs):
        expected = Result(model="m", version="1", inputs=values, outputs=outcome, created=result.created)
        assert result.stored_form() == expected.stored_form() and result.key == expected.key
        assert result.stored_form()[0] is not values and result.stored_form()[1] is not outcome


@pytest.mark.unit
def test_plain_float_rows_refuses_rows_that_need_the_encoder():
    assert not plain_float_rows([])
    assert not plain_float_rows([{}])
    assert not plain_float_rows([{"x": 1.0}, {"y": 1.0}])  # other names
    assert not plain_float_rows([{"x": 1.0}, {"x": 1.0, "y": 2.0}])
    assert not plain_float_rows([{"a.b": 1.0}]) and not plain_float_rows([{"$a": 1.0}]) and not plain_float_rows([{"é": 1.0}])
    assert not plain_float_rows([{"x": 1.0}, [1.0]])
    assert plain_float_rows([{"x": 1.0, "y": -9.99e15}, {"x": 0.0, "y": 2.0}])


@pytest.mark.unit
def test_trusted_results_still_refuse_what_cannot_be_stored():
    with pytest.raises(InvalidResultValue, match="outputs.f: cannot store a callable"):
        trusted_results("m", "1", [result_key("m", "1", {})], [{}], [{"f": print}])
    with pytest.raises(ValueError, match="one item per result"):
        trusted_results("m", "1", [], [{}], [{}])
    with pytest.raises(ValueError, match="model and version"):
        trusted_results("", "1", [], [], [])


def test_get_many_and_find_by_keys_on_every_store(store):
    results = [Result(model="quad", version="1", inputs={"k1": float(i)}, outputs={"f": i * 2.0}) for i in range(30)]
    store.insert_many(results)
    wanted = [r.key for r in results[::3]] + [result_key("quad", "1", {"k1": 99.0})]  # one never stored
    found = store.get_many(wanted)
    assert set(found) == {r.key for r in results[::3]}
    assert all(found[r.key] == r for r in results[::3])
    assert {r.key for r in store.find(keys=wanted)} == set(found)
    assert [r.key for r in store.find(keys=wanted, model="quad", inputs={"k1": 3.0})] == [results[3].key]  # with other filters
    assert store.get_many([]) == {}


@pytest.mark.slow
def test_get_many_splits_many_keys_into_chunks(sql_store):
    results = [Result(model="quad", version="1", inputs={"k1": float(i)}) for i in range(KEYS_PER_QUERY + 500)]
    sql_store.insert_many(results)
    found = sql_store.get_many([r.key for r in results] * 2)  # repeated keys are asked once
    assert len(found) == len(results)


@pytest.mark.unit
@pytest.mark.parametrize("keys, field", [("abc", "keys"), ([], "keys"), (["a" * 64, "xyz"], "keys[1]"), ([5], "keys[0]")])
def test_bad_keys_are_refused_naming_the_culprit(keys, field, tmp_path):
    from lume_prefect.results import SQLResultsStore

    with pytest.raises(InvalidQuery) as caught:
        SQLResultsStore(f"sqlite:///{tmp_path}/r.db").find(keys=keys)
    assert caught.value.field == field


@pytest.mark.unit
@pytest.mark.parametrize("keys, field", [(["a" * 64, "xyz"], "keys[1]"), ([5], "keys[0]"), (["A" * 64], "keys[0]")])
def test_get_many_refuses_bad_keys_naming_the_culprit_before_any_query(keys, field, tmp_path):
    from lume_prefect.results import SQLResultsStore

    with pytest.raises(InvalidQuery) as caught:
        SQLResultsStore(f"sqlite:///{tmp_path}/r.db").get_many(keys)
    assert caught.value.field == field
