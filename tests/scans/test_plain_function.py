"""A model's plain function: reachable from its flow, validated the same way on every path."""

from __future__ import annotations

import pytest

from lume_prefect.models import InvalidInput, InvalidOutput, ModelSpec

SPEC = ModelSpec(
    name="lens", version="1.0.0",
    inputs=[{"name": "k1", "range": [-5, 5]}, {"name": "length", "default": 0.1, "range": [0.01, 2.0]}],
    outputs=[{"name": "f"}],
)


def lens(k1: float, length: float) -> dict:
    return {"f": 1.0 / (k1 * length)} if k1 else {"nothing": 0}


MODEL = SPEC.flow(lens)


@pytest.mark.unit
def test_the_flow_keeps_the_plain_function_and_evaluates_without_prefect():
    assert MODEL.lume_function is lens and MODEL.lume_spec is SPEC
    assert MODEL.evaluate(k1=2) == {"f": 5.0}  # the default length filled in, the int converted
    with pytest.raises(InvalidInput, match=r"input 'k1' = 9.0 is outside its range \[-5, 5\]"):
        MODEL.evaluate(k1=9.0)
    with pytest.raises(InvalidInput, match="input 'colour' is not an input"):
        MODEL.evaluate(k1=1.0, colour="red")
    with pytest.raises(InvalidOutput, match="declared outputs missing from the returned dict: f"):
        MODEL.evaluate(k1=0.0)


@pytest.mark.unit
def test_check_inputs_reports_every_problem_and_validate_inputs_the_first():
    values, problems = SPEC.check_inputs({"length": 7.0, "colour": "red"})
    assert [(p.variable, p.problem.split(" ")[0]) for p in problems] == [("colour", "is"), ("k1", "is"), ("length", "=")]
    with pytest.raises(InvalidInput) as caught:
        SPEC.validate_inputs({"length": 7.0, "colour": "red"})
    assert caught.value.variable == "colour"
    assert SPEC.check_inputs({"k1": 1}) == ({"k1": 1.0, "length": 0.1}, [])


@pytest.mark.prefect
def test_a_flow_run_and_the_plain_function_give_the_same_outputs(tmp_path, monkeypatch):
    from lume_prefect.results import RESULTS_STORE_ENV

    monkeypatch.setenv(RESULTS_STORE_ENV, "none")  # the flow run stores nothing here: only the outputs matter
    result = MODEL(k1=2.0, length=0.5)
    assert result.outputs == MODEL.evaluate(k1=2.0, length=0.5) == {"f": 1.0}
    with pytest.raises(InvalidInput, match="outside its range"):
        MODEL(k1=9.0)
