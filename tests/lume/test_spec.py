"""The spec of a LUME model, from its variables: every lume-base and lume-torch kind, and
what the spec refuses (wrong shape, wrong dtype, out of range under ``error``), naming the
variable. Real lume-base, lume-torch and openPMD variables; no Prefect."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lume_prefect.lume.entry import LumeEntry, lume_instance
from lume_prefect.lume.spec import spec_from_model, variable_from_lume
from lume_prefect.models import InvalidInput
from tests.lume.conftest import counter_source

pytestmark = pytest.mark.unit


@pytest.fixture
def counter(tmp_path):
    return lume_instance("counter.py:make_counter", str(counter_source(tmp_path / "counter")))


def test_every_lume_base_kind(counter):
    spec = spec_from_model(counter, "counter", "1.0.0")
    inputs = {v.name: v for v in spec.inputs}
    outputs = {v.name: v for v in spec.outputs}
    # writable variables are inputs, read-only ones outputs
    assert list(inputs) == ["gain", "turns", "enabled", "label", "mode", "mask"]
    assert list(outputs) == ["count", "total", "image", "beam"]
    gain = inputs["gain"]
    assert (gain.type, gain.default, gain.range, gain.units, gain.validation) == ("float", 1.0, (0.0, 10.0), "V", "none")
    assert (inputs["turns"].type, inputs["turns"].default, inputs["turns"].range) == ("int", 1, (0.0, 100.0))
    assert (inputs["enabled"].type, inputs["label"].type) == ("bool", "str")
    assert (inputs["mode"].choices, inputs["mode"].default) == (["fast", "slow"], "fast")
    mask = inputs["mask"]
    assert (mask.type, mask.shape, mask.dtype, mask.default) == ("array", (4, 3), "float64", np.ones((4, 3)).tolist())
    assert (outputs["image"].type, outputs["image"].shape) == ("array", (4, 3))
    assert outputs["beam"].type == "particles" and outputs["total"].units == "V"
    # the whole spec travels as JSON in the registry and comes back equal
    schema = spec.parameters_schema()
    assert schema["properties"]["mask"]["x-shape"] == [4, 3] and schema["properties"]["mask"]["x-dtype"] == "float64"
    assert "minimum" not in schema["properties"]["gain"]  # validation none: outside the range still runs
    assert type(spec).from_parameters_schema(schema, "counter", "1.0.0") == spec


def test_lume_torch_kinds_and_read_only_inputs_are_constants():
    from lume_torch.variables import DistributionVariable, TorchNDVariable, TorchScalarVariable

    image = variable_from_lume(TorchNDVariable(name="CAM:IMAGE", shape=(64, 64), dtype=torch.float32, unit="counts"))
    assert (image.type, image.shape, image.dtype, image.units) == ("array", (64, 64), "float32", "counts")
    scalar = variable_from_lume(TorchScalarVariable(name="q", default_value=torch.tensor(0.25), value_range=(0, 1), default_validation_config="warn"))
    assert (scalar.type, scalar.default, scalar.range, scalar.validation) == ("float", 0.25, (0.0, 1.0), "warn")
    assert variable_from_lume(DistributionVariable(name="y", unit="m")).type == "distribution"
    constant = variable_from_lume(TorchScalarVariable(name="energy", default_value=1.0, read_only=True), read_only_is_constant=True)
    assert constant.constant and constant.check("m", 1.0) == 1.0
    with pytest.raises(InvalidInput, match="'energy' = 2.0 is a constant of the model: it is always 1.0"):
        constant.check("m", 2.0)


def test_wrong_shape_and_dtype_are_refused_naming_the_variable():
    from lume_torch.variables import TorchNDVariable

    image = variable_from_lume(TorchNDVariable(name="CAM:IMAGE", shape=(64, 64), dtype=torch.float32))
    with pytest.raises(InvalidInput, match=r"input 'CAM:IMAGE' must have shape \(64, 64\), got shape \(3,\)"):
        image.check("m", [1.0, 2.0, 3.0])
    with pytest.raises(InvalidInput, match=r"input 'CAM:IMAGE' must have dtype float32, got dtype complex128"):
        image.check("m", np.ones((64, 64), dtype=complex))
    with pytest.raises(InvalidInput, match=r"'CAM:IMAGE' must have dtype float32, got dtype <U1"):
        image.check("m", [["a"] * 64] * 64)
    with pytest.raises(InvalidInput, match=r"'CAM:IMAGE' is not a rectangular array"):
        image.check("m", [[1.0, 2.0], [3.0]])
    # what casts safely passes as it is: lists, float64 arrays, tensors
    assert image.check("m", np.zeros((64, 64))).shape == (64, 64)
    assert image.check("m", torch.zeros(64, 64, dtype=torch.float64)).shape == (64, 64)
    with pytest.raises(InvalidInput, match=r"must have shape \(64, 64\), got shape \(1, 64, 64\)"):
        image.check("m", torch.zeros(1, 64, 64))


@pytest.mark.parametrize("validation", ["none", "warn", "error"])
def test_the_models_validation_setting_decides_what_an_out_of_range_input_does(tmp_path, validation):
    model = lume_instance("counter.py:make_counter", str(counter_source(tmp_path / validation, validation)))
    spec = spec_from_model(model, "counter", "1.0.0")
    if validation == "error":
        with pytest.raises(InvalidInput, match=r"model 'counter': input 'gain' = 12.0 is outside its range \[0, 10\] V"):
            spec.validate_inputs({"gain": 12.0})
        return
    values = spec.validate_inputs({"gain": 12.0})
    expected = ["input 'gain' = 12.0 is outside its range [0, 10] V"] if validation == "warn" else []
    assert spec.input_warnings(values) == expected
    # a value of the wrong type is refused whatever the setting
    with pytest.raises(InvalidInput, match="input 'gain' must be float, got str"):
        spec.validate_inputs({"gain": "high"})


def test_the_entrypoint_of_a_registered_lume_model_round_trips():
    entry = LumeEntry(model="model.yml", name="surrogate", version="1.0.0", vectorized=True)
    module, _, attribute = entry.entrypoint.partition(":")
    assert module == "lume_prefect.lume.entry" and attribute.isidentifier()
    assert LumeEntry.parse(entry.entrypoint) == entry
    from lume_prefect.registry.validation import entrypoint

    assert entrypoint(entry.entrypoint) == entry.entrypoint  # the registry takes it


def test_a_model_file_outside_its_source_is_refused(torch_source):
    with pytest.raises(ValueError, match=r"LUME model '../surrogate/model.yml' is outside its source"):
        lume_instance("../surrogate/model.yml", str(torch_source / "sub"))
