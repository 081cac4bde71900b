"""Calling LUME models honestly: a LUMEModel is reset before every point unless registered
stateless (then its state leaks from one point into the next, as a real lume-cheetah model
shows), a batch of N settings equals N single points. Real lume-base, lume-cheetah, lume-torch."""

from __future__ import annotations

import numpy as np
import pytest

from lume_prefect.lume.entry import lume_instance
from lume_prefect.lume.evaluate import model_function
from lume_prefect.lume.spec import spec_from_model
from tests.lume.conftest import counter_source

pytestmark = pytest.mark.unit
Q1, Q2, IMAGE = "QUAD:Q1:BCTRL", "QUAD:Q2:BCTRL", "SCREEN:S1:IMAGE"


def test_a_lume_model_is_reset_before_every_point_unless_stateless(tmp_path):
    model = lume_instance("counter.py:make_counter", str(counter_source(tmp_path / "counter")))
    spec = spec_from_model(model, "counter", "1.0.0")
    honest = model_function(model, spec)
    first, again = honest(**spec.validate_inputs({"gain": 2.0})), honest(**spec.validate_inputs({"gain": 2.0}))
    assert first["count"] == again["count"] == 1 and first["total"] == again["total"] == 3.0
    assert first["image"].shape == (4, 3) and type(first["beam"]).__name__ == "ParticleGroup"
    stateless = model_function(model, spec, stateless=True)
    counts = [stateless(**spec.validate_inputs({"gain": 2.0}))["count"] for _ in range(3)]
    assert counts == [2, 3, 4]  # no reset: every set() of the model adds up


def same(a, b) -> bool:
    """Two screen images equal to float32 precision (pixels hold charges of about 1e-18 C)."""
    return np.allclose(a / a.max(), b / a.max(), atol=1e-4)


def test_cheetah_state_leaks_without_reset_and_not_with_it(cheetah_source):
    model = lume_instance("beamline.py:make_beamline", str(cheetah_source))
    spec = spec_from_model(model, "beamline", "1.0.0")
    assert [v.name for v in spec.inputs] == [Q1, Q2] and spec.input(Q2).default == 0.0  # the model's own setting
    honest, stateless = model_function(model, spec), model_function(model, spec, stateless=True)
    alone = honest(**{Q1: 5.0, Q2: 0.0})[IMAGE]
    honest(**{Q1: 0.0, Q2: 10.0})
    assert same(honest(**{Q1: 5.0, Q2: 0.0})[IMAGE], alone)
    # stateless: setting only Q1 keeps the Q2 = 10 of the point before
    stateless(**{Q1: 0.0, Q2: 10.0})
    leaked = model_function(model, spec.model_copy(update={"inputs": [spec.input(Q1)]}), stateless=True)(**{Q1: 5.0})[IMAGE]
    assert not same(leaked, alone)


def test_a_batch_of_settings_is_one_call_and_equals_the_single_points(cheetah_source):
    model = lume_instance("beamline.py:make_beamline", str(cheetah_source))
    spec = spec_from_model(model, "beamline", "1.0.0", vectorized=True)
    batch = model_function(model, spec)
    strengths = [-4.0, 0.0, 4.0]
    images = batch(**{Q1: strengths, Q2: [0.0] * 3})[IMAGE]
    assert len(images) == 3 and all(i.shape == (12, 16) for i in images)
    single = model_function(model, spec_from_model(model, "beamline", "1.0.0"))
    for strength, image in zip(strengths, images):
        assert same(image, single(**{Q1: strength, Q2: 0.0})[IMAGE])


def test_a_torch_surrogate_evaluates_a_batch_with_its_batch_dimension(torch_source):
    model = lume_instance("model.yml", str(torch_source))
    spec = spec_from_model(model, "surrogate", "1.0.0", vectorized=True)
    outputs = model_function(model, spec)(x=[0.0, 0.5, 1.0], **{"QUAD:IN20:425:BCTRL": [0.0, 0.0, 1.0]})
    assert outputs == {"y": pytest.approx([1.0, 2.0, 6.0])}
    assert model_function(model, spec.model_copy(update={"vectorized": False}))(x=0.5, **{"QUAD:IN20:425:BCTRL": 0.0}) == {"y": pytest.approx(2.0)}


def test_a_factory_is_called_once_per_process(torch_source):
    assert lume_instance("surrogate.py:make_surrogate", str(torch_source)) is lume_instance("surrogate.py:make_surrogate", str(torch_source))
