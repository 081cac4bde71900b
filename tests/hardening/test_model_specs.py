"""Models, round 2 (issue 21): a spec refuses what it would silently lose (a misspelt key, an
empty choice list, a name no flow or store can hold), LUME variable lists still work as they
are, and run_model's timeout is a positive number of seconds or nothing."""

from __future__ import annotations

import re

import pytest

from lume_prefect.models import ModelSpec


def spec(**variable) -> ModelSpec:
    return ModelSpec(name="m", version="1.0.0", inputs=[{"name": "x", **variable}])


@pytest.mark.unit
@pytest.mark.parametrize("name", ["class", "a b", "a.b", " x", "x\n", "$x", "def", "__lume__"])
def test_a_variable_name_no_flow_or_store_can_hold_is_refused(name):
    with pytest.raises(ValueError, match=re.escape(f"variable name {name!r} is not allowed")):
        ModelSpec(name="m", version="1.0.0", inputs=[{"name": name}])
    with pytest.raises(ValueError, match="is not allowed"):
        ModelSpec(name="m", version="1.0.0", outputs=[{"name": name}])


@pytest.mark.unit
@pytest.mark.parametrize("name", ["sigma_x", "QUAD:IN20:425:BCTRL", "émittance", "x-1", "_private"])
def test_plain_and_pv_style_names_are_kept(name):
    assert spec_named(name).inputs[0].name == name


def spec_named(name: str) -> ModelSpec:
    return ModelSpec(name="m", version="1.0.0", inputs=[{"name": name, "default": 1.0}])


@pytest.mark.unit
def test_an_empty_choice_list_is_refused():
    with pytest.raises(ValueError, match="choices must list at least one value"):
        spec(type="str", choices=[])
    assert spec(type="str", choices=["a"], default="a").inputs[0].choices == ["a"]


@pytest.mark.unit
@pytest.mark.parametrize("key, hint", [("rnage", "did you mean 'range'"), ("defualt", "did you mean 'default'"), ("colour", "known keys: ")])
def test_an_unknown_key_is_refused_naming_it(key, hint):
    with pytest.raises(ValueError, match=f"variable 'x': unknown key {key!r}; {hint}"):
        spec(type="float", **{key: [0, 1]})


@pytest.mark.unit
def test_lume_variable_lists_still_work_as_they_are():
    """lume-model 1.x dumps (is_constant, precision, value_range_tolerance, variable_class),
    lume-base / lume-torch variables (read_only, default_validation_config, shape, dtype)."""
    old_lume_model = [
        {"name": "x", "variable_type": "scalar", "default_value": 0.5, "value_range": [0, 1], "unit": "mm", "is_constant": False,
         "precision": 8, "value_range_tolerance": 1e-8, "variable_class": "ScalarInputVariable"},
        {"name": "QUAD:IN20:425:BCTRL", "variable_class": "ScalarVariable", "default_value": -2.0, "value_range": [-5, 5],
         "unit": "kG", "read_only": False, "default_validation_config": "error", "description": "quad"},
        {"name": "image", "variable_type": "image", "shape": [10, 10], "dtype": "float32", "default_value": None},
    ]
    model = ModelSpec(name="m", version="1.0.0", inputs=old_lume_model)
    assert [v.name for v in model.inputs] == ["x", "QUAD:IN20:425:BCTRL", "image"]
    assert model.inputs[0].range == (0.0, 1.0) and model.inputs[0].units == "mm" and model.inputs[0].default == 0.5
    with pytest.raises(ValueError, match="outside its range"):
        model.validate_inputs({"x": 2.0, "QUAD:IN20:425:BCTRL": 0.0, "image": [[0.0]]})
    # and the spec round-trips through the registry's parameters schema
    again = ModelSpec.from_parameters_schema(model.parameters_schema(), "m", "1.0.0")
    assert again.inputs == model.inputs


@pytest.mark.unit
@pytest.mark.parametrize("timeout", [0, -1, float("nan"), float("inf"), "abc", True])
def test_run_model_refuses_a_timeout_that_is_not_a_positive_number_before_anything(timeout):
    from lume_prefect.models.run import run_model

    with pytest.raises(ValueError, match=f"timeout must be a positive number of seconds .*got {timeout!r}"):
        run_model("no-such-model", {}, timeout=timeout, services="no-such-services-block")


@pytest.mark.unit
@pytest.mark.parametrize("given", ["0", "nan", "-1", "inf"])
def test_the_run_command_refuses_such_a_timeout_in_one_line(given, capsys, monkeypatch):
    import sys

    from lume_prefect.cli import main

    monkeypatch.setattr(sys, "argv", ["lume-prefect", "run", "no-such-model", "--timeout", given, "--services", "no-such-services-block"])
    with pytest.raises(SystemExit) as info:
        main()
    said = capsys.readouterr()
    assert info.value.code == 1
    ours = [line for line in said.err.splitlines() if not re.match(r"^\d\d:\d\d:\d\d\.\d+ \| ", line)]  # not Prefect's DEBUG logging
    # the command's own check (inf) or its option validator (0, nan, -1): one line naming the value
    assert len(ours) == 1 and ours[0].startswith("error: ") and "timeout" in ours[0] and str(float(given)) in ours[0], ours
