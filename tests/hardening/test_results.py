"""Results: a value no store keeps faithfully is refused when the Result is made, naming its
field, so nothing reaches a database half-way."""

from __future__ import annotations

import pytest

from lume_prefect.results import Result
from lume_prefect.results.errors import InvalidResultValue
from tests.results.conftest import mongo_server, open_store  # noqa: F401 - mongo_server is a fixture


def deep(levels: int) -> dict:
    root: dict = {}
    node = root
    for _ in range(levels):
        node["a"] = {}
        node = node["a"]
    return root


def self_referencing() -> dict:
    loop: dict = {"x": 1}
    loop["me"] = loop
    return loop


def listed_in_itself() -> list:
    loop: list = [1]
    loop.append(loop)
    return loop


BAD = {
    "inputs 1,000 deep": ({"inputs": {"lattice": deep(1000)}}, "inputs", "nested too deeply"),
    "outputs 1,000 deep": ({"outputs": {"tree": deep(1000)}}, "outputs", "nested too deeply"),
    "self-referencing dict": ({"inputs": {"cfg": self_referencing()}}, "inputs", "contains itself"),
    "list inside itself": ({"outputs": {"xs": listed_in_itself()}}, "outputs", "contains itself"),
    "NUL in an input": ({"inputs": {"label": "a\x00b"}}, "inputs.label", "NUL character"),
    "NUL in an output list": ({"outputs": {"names": ["ok", "b\x00"]}}, r"outputs.names\[1\]", "NUL character"),
    "NUL in a name": ({"inputs": {"x\x00": 1}}, "inputs", "NUL character"),
    "NUL in a tag": ({"tags": ["scan\x00"]}, r"tags\[0\]", "NUL character"),
    "NUL in the model": ({"model": "inj\x00ector"}, "model", "NUL character"),
    "lone surrogate in an input": ({"inputs": {"label": "\ud800"}}, "inputs.label", "lone surrogate"),
    "lone surrogate in a tuple": ({"outputs": {"t": ("x", "\udfff")}}, r"outputs.t\[1\]", "lone surrogate"),
    "version not PEP 440": ({"version": "not a version!"}, "version", "not a PEP 440 version"),
}


@pytest.mark.unit
@pytest.mark.parametrize("case", list(BAD))
def test_unstorable_values_are_refused_at_creation_naming_the_field(case):
    fields, where, what = BAD[case]
    with pytest.raises(ValueError, match=f"{where}.*{what}|{what}.*{where}"):
        Result(**{"model": "injector", "version": "1.0.0", **fields})


@pytest.mark.unit
def test_the_refusal_is_an_invalid_result_value_naming_the_path():
    from lume_prefect.results.codec import encode_values

    with pytest.raises(InvalidResultValue) as info:
        encode_values({"s": "a\x00"}, "inputs", [], allow_nonfinite=False)
    assert info.value.field == "inputs.s"


@pytest.mark.unit
def test_deep_but_reasonable_nesting_and_real_unicode_are_kept():
    result = Result(model="m", version="1.0.0", inputs={"tree": deep(100), "name": "émittance ε ✓ 🚀"}, tags=["scan-ä"])
    assert result.inputs["name"] == "émittance ε ✓ 🚀"


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_refused_values_never_reach_the_database(backend, request):
    store = open_store(backend, request)
    good = Result(model="m", version="1.0.0", inputs={"label": "café ✓", "tree": deep(50)})
    with pytest.raises(ValueError, match="NUL"):
        store.insert_many([good, Result(model="m", version="1.0.0", inputs={"label": "x\x00"})])
    assert store.count(model="m") == 0  # the batch was never sent
    store.insert(good)
    assert store.get(good.key).inputs["label"] == "café ✓"


# ---- round 2 (issue 21): a value comes back as the same type and value, or is refused -------


@pytest.mark.unit
@pytest.mark.parametrize("field", ["inputs", "outputs"])
def test_a_masked_array_is_refused_rather_than_losing_its_mask(field):
    import numpy as np

    masked = np.ma.masked_array([1.0, 2.0, 3.0], mask=[False, True, False])
    with pytest.raises(ValueError, match=f"{field}.xs: cannot store a NumPy masked array: its mask would be lost"):
        Result(model="m", version="1.0.0", **{field: {"xs": masked}})
    assert Result(model="m", version="1.0.0", outputs={"xs": masked.filled(np.nan)}).outputs["xs"].shape == (3,)


@pytest.mark.unit
@pytest.mark.parametrize("model", ["😀", "a b", "-leading", "a/b", "x" * 256, "tab\there", "a✓"])
def test_a_result_model_name_follows_the_model_name_rule(model):
    with pytest.raises(ValueError, match="model(.|\n)*(is not a model name|at most 255 characters)"):
        Result(model=model, version="1.0.0")
    assert Result(model="Injector_2.cu-hxr", version="1.0.0").model == "Injector_2.cu-hxr"
    assert Result(model="modèle", version="1.0.0").model == "modèle"  # letters of any script, as before
    assert Result(model="x" * 255, version="1.0.0").model == "x" * 255  # the store's column, not the registry's 100


@pytest.mark.unit
def test_a_date_that_overflows_in_utc_is_refused_naming_the_field():
    from datetime import datetime, timedelta, timezone

    late = datetime(9999, 12, 31, 23, 59, tzinfo=timezone(timedelta(hours=-14)))
    with pytest.raises(ValueError, match="created: 9999-12-31T23:59:00-14:00 is outside the dates Python can hold"):
        Result(model="m", version="1.0.0", created=late)
    early = datetime(1, 1, 1, 0, 0, tzinfo=timezone(timedelta(hours=14)))
    with pytest.raises(ValueError, match="created: 0001-01-01"):
        Result(model="m", version="1.0.0", created=early)


EDGE_NUMBERS = {"1e16": 1e16, "1e20": 1e20, "-1e300": -1e300, "-0.0": -0.0, "2**53+1.0": float(2**53) * 2, "int64 max": 2**63 - 1,
                "int64 min": -(2**63), "5e-324": 5e-324, "0.1": 0.1}


@pytest.mark.parametrize("backend", ["sqlite", "postgresql", "mariadb", "mongo"])
def test_numbers_come_back_as_the_same_type_and_value(backend, request):
    import math

    import numpy as np

    store = open_store(backend, request)
    values = {name.replace(".", "_").replace("*", "^").replace("+", "p").replace(" ", "_"): v for name, v in EDGE_NUMBERS.items()}
    arrays = {"u64": np.uint64(2**64 - 1), "f64_negzero": np.float64(-0.0), "f64_big": np.float64(1e20), "i64": np.int64(-(2**63))}
    result = Result(model="m", version="1.0.0", inputs={"x": 1}, outputs={**values, **arrays, "nested": [1e20, -0.0, {"big": 2**63 - 1}]})
    store.insert(result)
    back = store.get(result.key).outputs
    for name, value in values.items():
        assert type(back[name]) is type(value), (name, type(back[name]))
        assert back[name] == value and math.copysign(1, back[name]) == math.copysign(1, value), name
    for name, value in arrays.items():
        assert type(back[name]) is type(value) and back[name] == value, name
    assert math.copysign(1, back["f64_negzero"]) == -1
    assert back["nested"] == [1e20, -0.0, {"big": 2**63 - 1}] and type(back["nested"][2]["big"]) is int
    assert math.copysign(1, back["nested"][1]) == -1


@pytest.mark.prefect
def test_a_scan_with_a_nul_tag_is_refused_before_it_runs(tmp_path):
    from tests.models.conftest import write_version  # noqa: F401 - documents where the model comes from
    from lume_prefect.scans import run_scan

    with pytest.raises(InvalidResultValue, match=r"tags\[0\]: contains a NUL character"):
        run_scan("no-such-model", [{"x": 1}], tags=["a\x00"], services="no-such-services-block")
    with pytest.raises(TypeError, match="tags must be a list of str"):
        run_scan("no-such-model", [{"x": 1}], tags="scan-1", services="no-such-services-block")


@pytest.mark.unit
def test_trusted_results_check_the_model_name_and_tags_once():
    from lume_prefect.results.store import trusted_results

    with pytest.raises(InvalidResultValue, match=r"tags\[1\]: contains a NUL character"):
        trusted_results("m", "1.0.0", ["k" * 64], [{"x": 1}], [{"y": 2}], tags=["ok", "b\x00"])
    with pytest.raises(InvalidResultValue, match="is not a model name"):
        trusted_results("😀", "1.0.0", ["k" * 64], [{"x": 1}], [{"y": 2}])


# ---- Mongo: the document limits, said with the size, the limit and where large values go ----


def _mongo(request):
    return open_store("mongo", request)


@pytest.mark.parametrize("case", ["100 MB array", "20 MB string", "a million keys"])
def test_a_result_over_mongos_size_limit_says_its_size_and_where_large_values_belong(request, case):
    import numpy as np

    from lume_prefect.results.errors import ResultTooLarge

    store = _mongo(request)
    value = {"100 MB array": lambda: np.zeros(100 * 2**20 // 8), "20 MB string": lambda: "x" * (20 * 2**20),
             "a million keys": lambda: {f"key-{i:07d}": i for i in range(1_000_000)}}[case]()  # ~18 MiB
    small = Result(model="m", version="1.0.0", inputs={"i": 0})
    big = Result(model="m", version="1.0.0", inputs={"i": 1}, outputs={"v": value})
    with pytest.raises(ResultTooLarge) as info:
        store.insert_many([small, big])
    message = str(info.value)
    assert big.key[:12] in message and " stored, over the " in message and "limit of MongoDB" in message and "file block" in message
    assert info.value.size > info.value.limit  # what the server says (MongoDB 16 MiB; the test server 512 KiB)
    assert store.count() == 0  # the small one, sent before, was removed again
    assert store.insert(small) == small.key


@pytest.mark.parametrize("levels", [99, 300])
def test_results_nested_deeper_than_mongo_keeps_are_refused_before_sending(request, levels):
    from lume_prefect.results.errors import ResultTooDeep

    store = _mongo(request)
    result = Result(model="m", version="1.0.0", outputs={"tree": deep(levels)})
    with pytest.raises(ResultTooDeep, match=r"nested \d+ levels deep; MongoDB .* keeps at most 99"):
        store.insert(result)
    assert store.count() == 0
    ok = Result(model="m", version="1.0.0", outputs={"tree": deep(90)})
    store.insert(ok)
    assert store.get(ok.key).outputs == ok.outputs


# ---- round 3: a query by the value a user stored finds it, tagged floats included ------------

QUERY_NUMBERS = {"1e16": 1e16, "1e20": 1e20, "-1.5e300": -1.5e300, "max float": 1.7976931348623157e308, "-0.0": -0.0, "0.0": 0.0,
                 "0.5": 0.5, "int 10**16": 10**16}


@pytest.mark.parametrize("backend", ["sqlite", "postgresql", "mariadb", "mongo"])
def test_a_query_with_the_number_stored_finds_it(backend, request, capsys):
    """Floats of 1e16 and more and -0.0 are stored tagged (PostgreSQL would change them); a
    query with the same number must still find them, plain, nested or as a NumPy scalar."""
    import json

    import numpy as np

    store = open_store(backend, request)
    stored = []
    for case, value in QUERY_NUMBERS.items():
        stored.append(Result(model="m", version="1.0.0", inputs={"x": value, "case": case}))
        stored.append(Result(model="m", version="1.0.0", inputs={"cfg": {"b": value}, "case": case}))
        if isinstance(value, float):
            stored.append(Result(model="m", version="1.0.0", inputs={"x": np.float64(value), "case": f"{case} numpy"}))
    store.insert_many(stored)

    def cases(**inputs) -> list[str]:
        found = sorted(r.inputs["case"] for r in store.find(inputs=inputs))
        assert store.count(inputs=inputs) == len(found)
        return found

    for case, value in QUERY_NUMBERS.items():
        # numbers by value, as result keys: 1e16 is 10**16, -0.0 is 0.0
        equal = sorted(c for c, v in QUERY_NUMBERS.items() if v == value)
        with_numpy = sorted([*equal, *(f"{c} numpy" for c in equal if isinstance(QUERY_NUMBERS[c], float))])
        assert cases(x=value) == with_numpy, case
        assert cases(x=np.float64(value) if isinstance(value, float) else np.int64(value)) == with_numpy, case
        assert cases(**{"cfg.b": value}) == equal, case
    assert cases(x=1.0000000000000002e16) == [] and cases(x=10**16 + 1) == [] and cases(x=-1e20) == []
    assert cases(x="1e+20") == []  # the text of a tagged float is not the number
    assert cases(x=1e20, case="1e20") == ["1e20"]

    if backend != "mongo":  # the CLI takes a SQL URL
        from lume_prefect.cli import app

        for text, expected in (("1e20", 2), ("-0.0", 4), ("1e+16", 3)):
            try:
                app(["results", "list", "--url", store._url.get_secret_value(), "--input", f"x={text}", "--json"])
            except SystemExit as exit:
                assert not exit.code
            assert len(json.loads(capsys.readouterr().out)) == expected, text
