"""Result and its codec: keys, faithful round-trips and refusals, without any database."""

from __future__ import annotations

import io
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from lume_prefect.results import InvalidQuery, Result
from lume_prefect.results.codec import decode_values, pack_blobs, unpack_blobs
from lume_prefect.results.store import Query, prepare_batch

pytestmark = pytest.mark.unit


def make(**inputs) -> Result:
    return Result(model="m", version="1", inputs=inputs)


def test_key_ignores_dict_order_and_number_spelling():
    a = make(x=1, opts={"method": "rk4", "steps": 10})
    b = Result(model="m", version="1", inputs={"opts": {"steps": 10.0, "method": "rk4"}, "x": np.int64(1)})
    assert a.key == b.key
    assert len(a.key) == 64


@pytest.mark.parametrize(
    "other",
    [
        {"x": True},  # a bool is not the number 1
        {"x": "1"},
        {"x": 1.5},
        {"x": [1]},
        {"x": np.array([1])},
        {"y": 1},
    ],
)
def test_key_distinguishes_different_inputs(other):
    assert make(x=1).key != make(**other).key


def test_key_depends_on_model_and_version():
    keys = {Result(model=m, version=v, inputs={"x": 1}).key for m in ("a", "b") for v in ("1", "2")}
    assert len(keys) == 4


def test_array_key_includes_dtype_and_shape_not_byte_order():
    base = np.arange(6, dtype="<f8")
    assert make(a=base).key == make(a=base.astype(">f8")).key
    assert make(a=base).key != make(a=base.astype("i8")).key
    assert make(a=base).key != make(a=base.reshape(2, 3)).key
    assert make(a=base.reshape(2, 3)).key == make(a=np.asfortranarray(base.reshape(2, 3))).key


def test_key_is_stable_across_processes_and_releases():
    # A fixed value: changing the canonical encoding would orphan every stored result.
    result = Result(model="injector", version="1.0", inputs={"charge": 250, "opts": {"b": [1, 2.5, "x", None, True]}})
    assert result.key == "51a07eafeff9e44a30541e07f333996f09271d3c49f91983a58fcf6c5cb3751e"
    code = (
        "from lume_prefect.results import Result;"
        "print(Result(model='injector', version='1.0', inputs={'opts': {'b': [1, 2.5, 'x', None, True]}, 'charge': 250.0}).key)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env={"PYTHONHASHSEED": "123"})
    assert out.stdout.strip() == result.key


def test_dataframe_inputs_key_by_content():
    frame = pd.DataFrame({"a": [1, 2], "s": ["x", "y"]})
    assert make(f=frame).key == make(f=frame.copy()).key
    assert make(f=frame).key != make(f=frame.assign(a=[1, 3])).key


def test_values_round_trip_with_types_dtypes_and_shapes():
    outputs = {
        "none": None,
        "flag": False,
        "n": 3,
        "big": 2**62,
        "f": 0.1,
        "nan": float("nan"),
        "inf": float("-inf"),
        "s": "ünïcode",
        "list": [1, "a", [2.5, None]],
        "tuple": (1, (2, 3)),
        "nested": {"a": {"b": np.float32(1.5)}},
        "i32": np.int32(7),
        "c": np.complex128(1 + 2j),
        "arr": np.arange(12, dtype=np.float32).reshape(3, 4),
        "fortran": np.asfortranarray(np.ones((2, 3), dtype=np.int16)),
        "bools": np.array([True, False]),
        "strings": np.array(["a", "bc"]),
        "empty": np.zeros((0, 5)),
        "frame": pd.DataFrame({"i": [1, 2], "f": [0.5, np.nan], "s": ["a", "b"]}, index=pd.Index([10, 20], name="shot")),
    }
    result = Result(model="m", version="1", outputs=outputs)
    inputs_tree, outputs_tree, blobs = result.stored_form()
    back = decode_values(outputs_tree, unpack_blobs(pack_blobs(blobs)))
    assert back.keys() == outputs.keys()
    for name, value in outputs.items():
        got = back[name]
        assert type(got) is type(value), name
        if isinstance(value, np.ndarray):
            assert got.dtype == value.dtype and got.shape == value.shape
            np.testing.assert_array_equal(got, value)
        elif isinstance(value, pd.DataFrame):
            pd.testing.assert_frame_equal(got, value)
        elif isinstance(value, float) and value != value:
            assert got != got
        elif isinstance(value, dict):
            assert type(got["a"]["b"]) is np.float32 and got["a"]["b"] == 1.5
        else:
            assert got == value, name
            if isinstance(value, np.generic):
                assert got.dtype == value.dtype


def test_arrays_are_stored_as_npy_bytes_not_json_lists():
    big = np.random.default_rng(0).normal(size=10_000)
    inputs_tree, outputs_tree, blobs = Result(model="m", version="1", outputs={"big": big}).stored_form()
    assert outputs_tree == {"big": {"__lume__": "ndarray", "blob": 0}}
    assert blobs[0].startswith(b"\x93NUMPY") and len(blobs[0]) < big.nbytes + 200


@pytest.mark.parametrize(
    ("inputs", "field", "why"),
    [
        ({"f": io.StringIO("x")}, "inputs.f", "open file"),
        ({"fn": lambda x: x}, "inputs.fn", "callable"),
        ({"opts": {"n": float("nan")}}, "inputs.opts.n", "nan is not allowed in inputs"),
        ({"x": [1, float("inf")]}, r"inputs.x\[1\]", "inf is not allowed"),
        ({"x": np.float64("nan")}, "inputs.x", "nan is not allowed"),
        ({"x": 2**70}, "inputs.x", "does not fit in 64 bits"),
        ({"x": np.array([object()])}, "inputs.x", "Python objects"),
        ({"x": {1: "a"}}, "inputs.x", "keys must be str"),
        ({"a.b": 1}, "inputs.a.b", "contain no '.'"),
        ({"x": datetime.now()}, "inputs.x", "datetime"),
        ({"df": pd.DataFrame({1: [1]})}, "inputs.df", "column names must be str"),
    ],
)
def test_unstorable_inputs_are_refused_naming_the_field(inputs, field, why):
    with pytest.raises(ValidationError, match=f"{field}: .*{why}"):
        Result(model="m", version="1", inputs=inputs)


def test_outputs_keep_nan_but_refuse_unstorable_values():
    result = Result(model="m", version="1", outputs={"fit": float("nan")})
    assert result.outputs["fit"] != result.outputs["fit"]
    with open(__file__) as handle, pytest.raises(ValidationError, match="outputs.log: cannot store an open file"):
        Result(model="m", version="1", outputs={"log": handle})


def test_created_is_utc_milliseconds_and_naive_means_utc():
    result = Result(model="m", version="1", created=datetime(2026, 1, 2, 3, 4, 5, 678901))
    assert result.created == datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=timezone.utc)
    local = datetime(2026, 1, 2, 5, 4, 5, tzinfo=timezone(timedelta(hours=2)))
    assert Result(model="m", version="1", created=local).created.hour == 3


def test_flow_run_id_is_empty_outside_a_run():
    assert make(x=1).flow_run_id is None


def test_model_copy_with_update_recomputes_the_key():
    result = make(x=1)
    assert result.model_copy(update={"inputs": {"x": 2}}).key == make(x=2).key
    with pytest.raises(ValidationError):
        result.model_copy(update={"inputs": {"x": float("nan")}})


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"since": "yesterday"}, "since"),
        ({"since": 1700000000}, "since"),
        ({"until": 3.5}, "until"),
        ({"limit": -1}, "limit"),
        ({"limit": True}, "limit"),
        ({"model": 3}, "model"),
        ({"inputs": {"x": [1, 2]}}, "inputs.x"),
        ({"inputs": {"x": float("nan")}}, "inputs.x"),
        ({"inputs": ["x"]}, "inputs"),
        ({"tags": [""]}, "tags"),
    ],
)
def test_bad_query_arguments_name_the_field(kwargs, field):
    with pytest.raises(InvalidQuery, match=rf"^{field}: ") as error:
        Query.build(**kwargs)
    assert error.value.field == field


def test_since_accepts_iso_strings_and_naive_datetimes_as_utc():
    query = Query.build(since="2026-11-01", until=datetime(2026, 11, 2))
    assert query.since == datetime(2026, 11, 1, tzinfo=timezone.utc)
    assert query.until == datetime(2026, 11, 2, tzinfo=timezone.utc)


def test_batches_dedupe_per_policy():
    first, again = make(x=1), Result(model="m", version="1", inputs={"x": 1.0}, tags=["later"])
    batch, keys = prepare_batch([first, make(x=2), again], "skip")
    assert keys == [first.key, make(x=2).key, first.key] and batch[0] is first
    batch, _ = prepare_batch([first, make(x=2), again], "replace")
    assert batch[-1] is again and len(batch) == 2
    with pytest.raises(ValueError, match="on_duplicate must be one of"):
        prepare_batch([first], "ignore")
    with pytest.raises(TypeError, match=r"results\[1\] must be a Result, got dict"):
        prepare_batch([first, {"model": "m"}], "skip")
