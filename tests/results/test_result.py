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

from lume_prefect.files.fileref import FileRef
from lume_prefect.results import InvalidQuery, Result
from lume_prefect.results.codec import decode_values, pack_blobs, result_key, unpack_blobs
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


# Keys computed by the original (digest.update per value) implementation, before the key
# computation was optimised: any change here would orphan stored results.
PINNED_KEYS = {
    "dict order": (("m", "1", {"b": 2, "a": 1, "c": {"z": 1, "y": [1, 2]}}), "8fbfe543bdf309e75288f6182edd26b670934ee1fc002b72734e5141b2efbd94"),
    "dict order reversed": (("m", "1", {"c": {"y": [1, 2], "z": 1}, "a": 1, "b": 2}), "8fbfe543bdf309e75288f6182edd26b670934ee1fc002b72734e5141b2efbd94"),
    "int": (("m", "1", {"x": 1}), "0dbff041305d7696115cd62f843afaaa34f6ac2a68e576afca72d638ff1266c6"),
    "float spelled as int": (("m", "1", {"x": 1.0}), "0dbff041305d7696115cd62f843afaaa34f6ac2a68e576afca72d638ff1266c6"),
    "numpy int": (("m", "1", {"x": np.int64(1)}), "0dbff041305d7696115cd62f843afaaa34f6ac2a68e576afca72d638ff1266c6"),
    "floats and int limits": (
        ("m", "1", {"x": 0.1, "neg": -2.5e-300, "big": 1e300, "negzero": -0.0, "imax": 2**63 - 1, "imin": -(2**63)}),
        "d821fb2cf080ca7ff742d8abe55b2d408eca20c13c5006cb897b96fd8df8931b",
    ),
    "nested lists and tuples": (
        ("injector", "1.2.0", {"l": [1, [2.0, [None, True, False, "s"]], (3, "ü")], "empty_l": [], "empty_d": {}, "t": ()}),
        "a67ce61917acb01051b7ea8d274b5ef8ae170420763f06a731a6e87e82728bf4",
    ),
    "strings": (
        ("modèle", "2.0rc1", {"unicode": "ünïcödé ☃", "long": "x" * 300, "empty": ""}),
        "9b069153698996851036ecc80b5a3359dda7f111b4bf3a6c3530037951eee09b",
    ),
    "numpy scalars": (
        ("m", "1", {"i": np.int64(3), "u": np.uint8(7), "f32": np.float32(0.5), "f": np.float64(2.0), "b": np.bool_(True),
                    "c": np.complex128(1 + 2j), "s": np.str_("abc")}),
        "1553faeb4379d55028d26a3496b58b0d90591f7b78491bd238f9e8a5fc0a31e2",
    ),
    "numpy arrays": (
        ("m", "1", {"a": np.arange(6, dtype="<f8").reshape(2, 3), "be": np.arange(4, dtype=">i4"), "s": np.array(["a", "bc"]),
                    "b": np.array([True, False]), "e": np.zeros((0, 3)), "nan": np.array([np.nan, np.inf])}),
        "d7f8c57c9e826e69712cc0e5c81d194659e2b768e2181295ebd4ad32767a27a1",
    ),
    "dataframe": (
        ("m", "1", {"df": pd.DataFrame({"a": [1, 2], "f": [0.5, 1.5], "s": ["x", "y"]}, index=pd.Index([10, 20], name="shot"))}),
        "6ff24cacf1d832825c8185d7649b01414825d7105f8688e6074b523766ea63a4",
    ),
    "dataframe with object columns": (
        ("m", "1", {"df": pd.DataFrame({"s": ["a", None, "c"], "o": pd.Series([[1], [2, 3], None], dtype=object),
                                        "n": pd.array([1, None, 3], dtype="Int64")})}),
        "245f86b2e0ed97ab0af5820efdb657f0f253f92474bfbcc19b7c57a74bfd5cb0",
    ),
}


@pytest.mark.parametrize("case", list(PINNED_KEYS))
def test_keys_are_pinned(case):
    (model, version, inputs), key = PINNED_KEYS[case]
    assert Result(model=model, version=version, inputs=inputs).key == key
    assert result_key(model, version, inputs) == key


def test_key_of_large_arrays_is_pinned():
    # large enough that the key's bytes are fed to the hash in several pieces
    big = np.arange(1_000_000, dtype=np.float64)
    result = Result(model="m", version="1", inputs={"a": big, "b": [big, {"c": big.astype(">f4")}], "z": 1})
    assert result.key == "9a205414c405b8a301e04e6d35da8ab39fdea0380746a46f8d819335419b6000"


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


def test_stored_form_is_pinned():
    result = Result(
        model="m",
        version="1",
        inputs={"b": 2, "a": 1.0, "t": (1, [2, (3,)]), "n": {"x": None, "y": [True, "s"]}, "i": np.int32(4),
                "f": np.float64(0.5), "arr": np.arange(3)},
        outputs={"nan": float("nan"), "inf": [float("-inf")], "f32": np.float32("nan"), "c": np.complex64(1j),
                 "df": pd.DataFrame({"a": [1]}), "e": {}},
    )
    inputs_tree, outputs_tree, blobs = result.stored_form()
    assert list(inputs_tree) == ["b", "a", "t", "n", "i", "f", "arr"]  # the caller's order
    assert inputs_tree == {
        "b": 2, "a": 1.0, "t": {"__lume__": "tuple", "items": [1, [2, {"__lume__": "tuple", "items": [3]}]]},
        "n": {"x": None, "y": [True, "s"]}, "i": {"__lume__": "scalar", "dtype": "<i4", "value": 4},
        "f": {"__lume__": "scalar", "dtype": "<f8", "value": 0.5}, "arr": {"__lume__": "ndarray", "blob": 0},
    }
    assert type(inputs_tree["a"]) is float and type(inputs_tree["b"]) is int
    assert outputs_tree == {
        "nan": {"__lume__": "float", "value": "nan"}, "inf": [{"__lume__": "float", "value": "-inf"}],
        "f32": {"__lume__": "scalar", "dtype": "<f4", "value": "nan"}, "c": {"__lume__": "scalar", "dtype": "<c8", "blob": 1},
        "df": {"__lume__": "dataframe", "blob": 2}, "e": {},
    }
    assert [blob[:6] for blob in blobs] == [b"\x93NUMPY", b"\x93NUMPY", b"PAR1\x15\x04"]
    # the stored trees are copies: changing the Result's values afterwards does not reach them
    assert inputs_tree is not result.inputs and inputs_tree["n"] is not result.inputs["n"]
    assert inputs_tree["n"]["y"] is not result.inputs["n"]["y"]


@pytest.mark.parametrize(
    ("inputs", "outputs", "field", "why"),
    [
        ({"a": [{"b": [0, (1, {"c": float("nan")})]}]}, {}, r"inputs.a\[0\].b\[1\]\[1\].c", "nan is not allowed"),
        ({"a": {"b": {"c": {1: 2}}}}, {}, r"inputs.a.b.c", "keys must be str"),
        ({"a": [{"ok": 1, "$b": 2}]}, {}, r"inputs.a\[0\].\$b", r"not start with '\$'"),
        ({"a": [{"": 2}]}, {}, r"inputs.a\[0\]\.", "names must be non-empty"),
        ({"a": {"__lume__": 2}}, {}, r"inputs.a.__lume__", "not be '__lume__'"),
        ({}, {"x": [[1, 2], [3, set()]]}, r"outputs.x\[1\]\[1\]", "cannot store a value of type builtins.set"),
        ({}, {"x": (1, -(2**63) - 1)}, r"outputs.x\[1\]", "does not fit in 64 bits"),
        ({"a": [np.float32("inf")]}, {}, r"inputs.a\[0\]", "inf is not allowed"),
        # stored fine as Parquet, but a column of Python dates cannot be keyed
        ({"df": pd.DataFrame({"d": [datetime(2020, 1, 1).date()]})}, {}, r"inputs.df.d\[0\]", "cannot key a value of type datetime.date"),
        # the first bad value in the caller's order is named, inputs before outputs
        ({"z": {"q": float("nan")}, "a": float("inf")}, {"o": set()}, r"inputs.z.q", "nan is not allowed"),
        ({"x": 1}, {"z": set(), "a": float("nan"), "b": print}, r"outputs.z", "builtins.set"),
    ],
)
def test_nested_unstorable_values_are_named_by_their_path(inputs, outputs, field, why):
    with pytest.raises(ValidationError, match=f"{field}: .*{why}") as error:
        Result(model="m", version="1", inputs=inputs, outputs=outputs)
    assert len(error.value.errors()) == 1


def test_key_errors_name_the_path():
    from lume_prefect.results import InvalidResultValue

    with pytest.raises(InvalidResultValue, match=r"^inputs.a\[1\].b: cannot key a value of type builtins.set") as error:
        result_key("m", "1", {"a": [0, {"b": {1}}]})
    assert error.value.field == "inputs.a[1].b"


_FILE = FileRef(path="a.h5", serializer="hdf5", sha256="0" * 64, size=1)


@pytest.mark.parametrize(
    "data",
    [
        {"model": "m", "version": "1"},
        {"model": "m", "version": "1", "inputs": {"x": 1, "y": 2.5, "name": "a"}, "outputs": {"z": 2.0}},
        {"model": "é" * 255, "version": "1", "inputs": {"a": [1, (2, {"b": None})], "c": np.arange(3)}, "tags": ["t", "u", "t"]},
        {"model": "m", "version": "1", "tags": ("a",), "outputs": {"nan": float("nan"), "df": pd.DataFrame({"a": [1]})}},
        {"model": "m", "version": "1", "created": datetime(2026, 1, 2, 3, 4, 5, 678901), "flow_run_id": None},
        {"model": "m", "version": "1", "created": datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2)))},
        {"model": "m", "version": "1", "flow_run_id": "12345678-1234-5678-1234-567812345678", "created": "2026-01-02T03:04:05Z"},
        {"model": "m", "version": "1", "flow_run_id": __import__("uuid").UUID(int=7), "files": []},
        {"model": "m", "version": "1", "outputs": {"ε": "🚀"}},  # a lone surrogate is refused (tests/hardening)
        {"model": "m", "version": "1", "files": [_FILE], "tags": ["a", "b"]},
        {"model": "m", "version": "1", "files": (_FILE, _FILE.model_copy(update={"path": "b"})), "created": datetime(2026, 1, 1, tzinfo=timezone.utc)},
        {"model": "m", "version": "1", "files": [_FILE.model_dump()]},
    ],
)
def test_construction_copies_its_arguments_and_round_trips(data):
    result = Result(**data)
    assert result.inputs is not data.get("inputs") and result.outputs is not data.get("outputs")
    assert result.tags is not data.get("tags") and len(result.tags) == len(set(result.tags))
    assert result.created.tzinfo is timezone.utc and result.created.microsecond % 1000 == 0
    assert Result.model_validate(result.model_dump()) == result
    assert Result.model_validate(data).key == result.key


def test_model_validate_keeps_pydantics_modes():
    data = {"model": "m", "version": "1", "inputs": {"x": 1}, "created": "2026-01-02T03:04:05Z"}
    assert Result.model_validate(data).key == Result(model="m", version="1", inputs={"x": 1}).key
    with pytest.raises(ValidationError, match="created\n  Input should be a valid datetime"):
        Result.model_validate(data, strict=True)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({"model": "", "version": "1"}, "model\n  String should have at least 1 character"),
        ({"model": "m" * 256, "version": "1"}, "at most 255 characters"),
        ({"model": "\ud800", "version": "1"}, "unicode"),
        ({"model": 3, "version": "1"}, "model\n  Input should be a valid string"),
        ({"model": "m", "version": "1", "extra": 1}, "extra\n  Extra inputs are not permitted"),
        ({"model": "m", "version": "1", "tags": [""]}, r"tags\[0\] must be a non-empty str"),
        ({"model": "m", "version": "1", "inputs": {1: 2}}, r"inputs.1.\[key\]\n  Input should be a valid string"),
        ({"model": "m", "version": "1", "inputs": [1]}, "inputs\n  Input should be a valid dictionary"),
        ({"model": "m", "version": "1", "flow_run_id": "nope"}, "flow_run_id\n  Input should be a valid UUID"),
        ({"model": "m", "version": "1", "created": None}, "created\n  Input should be a valid datetime"),
        ({"model": "m", "version": "1", "inputs": None}, "inputs\n  Input should be a valid dictionary"),
        ({"model": "m", "version": "1", "tags": None}, "tags\n  Input should be a valid list"),
        ({"model": "m", "version": "1", "files": [{"path": "p"}]}, "files.0.serializer\n  Field required"),
        ({"model": "m", "version": "1", "inputs": {"x": 2**64}}, "inputs.x: integer 18446744073709551616 does not fit"),
        ({"model": "m", "version": "1", "inputs": {"x": float("nan")}, "outputs": {"y": set()}}, "inputs.x: nan is not allowed"),
    ],
)
def test_invalid_arguments_raise_pydantics_errors(data, match):
    with pytest.raises(ValidationError, match=match):
        Result(**data)


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
