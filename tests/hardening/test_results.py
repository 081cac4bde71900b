"""Results: a value no store keeps faithfully is refused when the Result is made, naming its
field, so nothing reaches a database half-way."""

from __future__ import annotations

import pytest

from lume_prefect.results import Result
from lume_prefect.results.errors import InvalidResultValue
from tests.results.conftest import open_store


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
