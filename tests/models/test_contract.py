"""The model contract: declared inputs validated before anything runs."""

from __future__ import annotations

import pytest

from lume_prefect.models import InvalidInput, InvalidOutput, ModelSpec, Variable
from lume_prefect.models.contract import SPEC_KEY

pytestmark = pytest.mark.unit

SPEC = ModelSpec(
    name="injector",
    version="v1.2",
    inputs=[
        {"name": "charge_pC", "default": 250.0, "range": [1, 1000], "units": "pC"},
        {"name": "n", "type": "int", "default": 100, "range": [1, 10_000]},
        {"name": "mode", "type": "str", "default": "fast", "choices": ["fast", "full"]},
        {"name": "gun_phase_deg", "units": "deg"},
    ],
    outputs=[{"name": "emittance", "units": "m"}],
)


def test_defaults_types_and_version_normal_form():
    assert SPEC.version == "1.2"
    values = SPEC.validate_inputs({"gun_phase_deg": 3, "n": 20})
    assert values == {"charge_pC": 250.0, "n": 20, "mode": "fast", "gun_phase_deg": 3.0}
    assert isinstance(values["gun_phase_deg"], float)


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"gun_phase_deg": 0, "charge_pC": 5000}, "input 'charge_pC' = 5000.0 is outside its range \\[1, 1000\\] pC"),
        ({"gun_phase_deg": 0, "chrge_pC": 1}, "input 'chrge_pC' is not an input of this model; inputs: charge_pC, gun_phase_deg, mode, n"),
        ({}, "input 'gun_phase_deg' is required"),
        ({"gun_phase_deg": 0, "n": 2.5}, "input 'n' must be int, got float 2.5"),
        ({"gun_phase_deg": "ten"}, "input 'gun_phase_deg' must be float, got str"),
        ({"gun_phase_deg": True}, "input 'gun_phase_deg' must be float, got bool"),
        ({"gun_phase_deg": 0, "mode": "slow"}, "input 'mode' = 'slow' is not one of \\['fast', 'full'\\]"),
        ({"gun_phase_deg": float("nan"), "charge_pC": float("nan")}, "charge_pC"),
    ],
)
def test_bad_inputs_name_the_variable_and_its_range(given, message):
    with pytest.raises(InvalidInput, match=message) as info:
        SPEC.validate_inputs(given)
    assert "model 'injector'" in str(info.value)


def test_lume_style_variables_are_accepted():
    variable = Variable.model_validate(
        {"name": "x", "variable_type": "scalar", "default_value": 0.5, "value_range": [0, 1], "unit": "mm", "is_constant": False}
    )
    assert (variable.type, variable.default, variable.range, variable.units) == ("float", 0.5, (0.0, 1.0), "mm")


def test_parameters_schema_carries_ranges_units_and_the_spec():
    schema = SPEC.parameters_schema()
    assert schema["properties"]["charge_pC"] == {
        "title": "charge_pC", "type": "number", "default": 250.0, "minimum": 1.0, "maximum": 1000.0, "x-units": "pC", "description": "Units: pC. Range: 1 to 1000 pC.",
    }
    assert schema["required"] == ["gun_phase_deg"]
    assert ModelSpec.from_parameters_schema(schema, "injector", "1.2") == SPEC
    assert schema[SPEC_KEY]["outputs"][0]["name"] == "emittance"


def test_spec_errors_are_clear():
    with pytest.raises(ValueError, match="not a PEP 440 version"):
        ModelSpec(name="m", version="latest")
    with pytest.raises(ValueError, match="declared twice"):
        ModelSpec(name="m", version="1", inputs=[{"name": "a"}, {"name": "a"}])
    with pytest.raises(ValueError, match="range low 2.0 is above high 1.0"):
        Variable(name="a", range=(2, 1))


def test_outputs_are_checked():
    with pytest.raises(InvalidOutput, match="declared outputs missing from the returned dict: emittance"):
        SPEC.check_outputs({"other": 1})
    with pytest.raises(InvalidOutput, match="must return a dict"):
        SPEC.check_outputs(3.0)


def test_model_flow_requires_every_input_as_a_parameter():
    def missing_phase(charge_pC, n, mode):
        return {"emittance": 1.0}

    with pytest.raises(TypeError, match=r"input 'gun_phase_deg' is not a parameter of missing_phase\(\)"):
        SPEC.flow(missing_phase)


def test_the_flow_signature_gives_prefect_the_spec_schema():
    import inspect

    from prefect.utilities.callables import parameter_schema

    def injector(charge_pC, n, mode, gun_phase_deg):
        return {"emittance": 1.0}

    model = SPEC.flow(injector)
    # the inputs in the spec's order, then the optional batch of a scan run as a deployment
    assert list(inspect.signature(model).parameters) == ["charge_pC", "n", "mode", "gun_phase_deg", "lume_scan_batch"]
    assert not model.should_validate_parameters  # the spec validates, naming the variable
    prefect = parameter_schema(model).model_dump_for_openapi()  # what to_deployment and `prefect deploy` send
    spec = SPEC.parameters_schema()
    assert list(prefect["properties"]) == list(spec["properties"]) == ["charge_pC", "n", "mode", "gun_phase_deg"]
    assert model.parameters.model_dump_for_openapi() == prefect  # the flow's own schema: no lume_scan_batch either
    assert prefect["required"] == spec["required"] == ["gun_phase_deg"]
    for name, expected in spec["properties"].items():
        assert prefect["properties"][name] == {**expected, "position": prefect["properties"][name]["position"]}
    assert prefect["properties"]["mode"]["enum"] == ["fast", "full"]


def test_the_flow_schema_has_descriptions_units_and_types_of_every_kind():
    from prefect.utilities.callables import parameter_schema

    spec = ModelSpec(
        name="kinds", version="1",
        inputs=[
            {"name": "x", "default": 1e-3, "range": [1e-6, 0.1], "units": "m", "description": "Initial rms size."},
            {"name": "flag", "type": "bool", "default": False, "description": "A switch."},
            {"name": "table", "type": "array"},
            {"name": "settings", "type": "dict", "default": {"a": 1}},
            {"name": "anything", "type": "any", "default": 3},
        ],
    )
    model = spec.flow(lambda x, flag, table, settings, anything: {})
    properties = parameter_schema(model).model_dump_for_openapi()["properties"]
    assert properties["x"] | {"position": 0} == {
        "title": "x", "type": "number", "default": 1e-3, "minimum": 1e-6, "maximum": 0.1,
        "x-units": "m", "description": "Initial rms size. Units: m. Range: 1e-06 to 0.1 m.", "position": 0,
    }
    assert properties["flag"]["type"] == "boolean" and properties["flag"]["description"] == "A switch."
    assert properties["table"]["type"] == "array" and "default" not in properties["table"]
    assert properties["settings"]["type"] == "object" and properties["settings"]["default"] == {"a": 1}
    assert "type" not in properties["anything"] and properties["anything"]["default"] == 3


def test_model_flow_refuses_a_parameter_that_no_input_fills():
    def extra(charge_pC, n, mode, gun_phase_deg, cavity):
        return {"emittance": 1.0}

    with pytest.raises(TypeError, match=r"parameter 'cavity' of extra\(\) is not an input of the model"):
        SPEC.flow(extra)
    SPEC.flow(lambda charge_pC, n, mode, gun_phase_deg, cavity=None: {"emittance": 1.0})  # a default is fine
