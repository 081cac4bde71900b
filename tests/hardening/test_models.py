"""Models: bad inputs and bad specs are refused before anything runs, naming the variable."""

from __future__ import annotations

import pytest

from lume_prefect.models import InvalidInput, ModelSpec
from tests.models.conftest import make_services, write_version  # noqa: F401 - make_services is a fixture

ENTRY = "model.py:toy_beam"


def spec(**variable) -> ModelSpec:
    return ModelSpec(name="m", version="1.0.0", inputs=[{"name": "x", **variable}])


@pytest.mark.unit
@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
@pytest.mark.parametrize("variable", [{"type": "float"}, {"type": "float", "range": [-1e300, 1e300]}, {"type": "int"}, {"type": "any"}])
def test_a_non_finite_number_is_refused(value, variable):
    with pytest.raises(InvalidInput, match=r"input 'x' = .* is not a finite number"):
        spec(**variable).validate_inputs({"x": value})


@pytest.mark.unit
@pytest.mark.parametrize("given", [[1, 2], "x=1", 3, ("x", 1)])
def test_inputs_that_are_not_a_mapping_are_named_as_such(given):
    with pytest.raises(TypeError, match="inputs must be a dict of input names to values"):
        spec(type="float", default=1.0).validate_inputs(given)


BAD_SPECS = {
    "default above its range": ({"type": "float", "range": [0, 1], "default": 5.0}, "default = 5.0 is outside its range"),
    "default not a choice": ({"type": "str", "choices": ["a", "b"], "default": "c"}, "default = 'c' is not one of"),
    "default of the wrong type": ({"type": "int", "default": "ten"}, "default must be int, got str"),
    "fractional int default": ({"type": "int", "default": 1.5}, "default must be int"),
    "NaN default": ({"type": "float", "default": float("nan")}, "default = nan is not a finite number"),
    "bool default for a float": ({"type": "float", "default": True}, "default must be float, got bool"),
}


@pytest.mark.unit
@pytest.mark.parametrize("case", list(BAD_SPECS))
def test_a_spec_whose_default_breaks_its_own_rules_is_refused(case):
    variable, message = BAD_SPECS[case]
    with pytest.raises(ValueError, match=f"variable 'x': its {message}"):
        spec(**variable)


@pytest.mark.unit
def test_good_defaults_are_kept():
    assert spec(type="float", range=[0, 1], default=0.5).validate_inputs({}) == {"x": 0.5}
    assert spec(type="str", choices=["a", "b"], default="b").validate_inputs({}) == {"x": "b"}


@pytest.mark.unit
@pytest.mark.parametrize("mode", ["sideways", "", "REMOTE", 1])
def test_an_unknown_run_mode_is_refused_before_anything_is_looked_up(mode):
    from lume_prefect.models.run import run_model

    with pytest.raises(ValueError, match=r"mode must be one of 'in-process', 'remote'.*got"):
        run_model("no-such-model", {}, mode=mode, services="no-such-services-block")


@pytest.fixture
def services(make_services, tmp_path):
    from lume_prefect.models.deploy import register_model_version

    services = make_services()
    assert register_model_version(ENTRY, str(write_version(tmp_path / "v1", "1.0.0")), services=services)
    services.registry.promote("toy-beam", "1.0.0", _sync=True)
    return services


@pytest.mark.prefect
def test_run_model_refuses_bad_inputs_before_running(services):
    from lume_prefect.models.run import run_model

    with pytest.raises(InvalidInput, match=r"input 'sigma_x' = nan is not a finite number"):
        run_model("toy-beam", {"sigma_x": float("nan")}, services=services)
    with pytest.raises(TypeError, match="inputs must be a dict"):
        run_model("toy-beam", [1, 2], services=services)
    assert services.results.count(_sync=True) == 0  # nothing ran, nothing stored


@pytest.mark.prefect
def test_outputs_not_in_the_spec_are_stored_with_the_declared_ones(services):
    """The decision (README, Models): a model's undeclared outputs are kept, not dropped;
    declared ones must be present."""
    from lume_prefect.models.run import run_model

    run = run_model("toy-beam", {"save_particles": True}, services=services)
    declared = {v.name for v in ModelSpec.from_parameters_schema(services.registry.live_version("toy-beam", _sync=True).parameters_schema, "toy-beam", "1.0.0").outputs}
    assert "particles" not in declared
    stored = services.results.get(run.result.key, _sync=True)
    assert declared <= set(stored.outputs) and "particles" in stored.outputs
