"""LUME models that take an openPMD ParticleGroup as an input, written into a model folder:
a drift tracking one beam (``DRIFT``), and the same drift batched (``BATCHED_DRIFT``: N beams in
one call, registered with ``vectorized=True``)."""

from __future__ import annotations

DRIFT = '''
import numpy as np
from lume.model import LUMEModel
from lume.variables import ParticleGroupVariable, ScalarVariable


class Drift(LUMEModel):
    """A drift that tracks the beam it is given: mean x after the drift, and the charge."""

    def __init__(self):
        self._variables = {
            "beam": ParticleGroupVariable(name="beam"),
            "length": ScalarVariable(name="length", default_value=1.0, value_range=(0.0, 10.0), unit="m"),
            "mean_x": ScalarVariable(name="mean_x", read_only=True, unit="m"),
            "charge": ScalarVariable(name="charge", read_only=True, unit="C"),
        }
        self.reset()

    @property
    def supported_variables(self):
        return self._variables

    def reset(self):
        self._state = {"beam": None, "length": 1.0}

    def _set(self, values):
        self._state.update(values)

    def _get(self, names):
        beam, length = self._state["beam"], self._state["length"]
        values = {"mean_x": float(np.mean(beam.x + length * beam.px / beam.pz)), "charge": float(beam.charge)}
        return {name: values[name] for name in names}


def make_drift():
    return Drift()
'''


BATCHED_DRIFT = '''
"""A drift that tracks N beams in one call: each setting its own beam and length."""

import numpy as np
from lume.model import LUMEModel
from lume.variables import ParticleGroupVariable, ScalarVariable


def each(value):
    """N values of a batch (a list), or the one value of a single setting."""
    return list(value) if isinstance(value, (list, tuple)) else [value]


class Beams(ParticleGroupVariable):
    """One beam, or one beam per setting of a batch."""

    def validate_value(self, value, config=None):
        for beam in each(value):
            super().validate_value(beam)


class Scalars(ScalarVariable):
    """One number, or one per setting of a batch."""

    def validate_value(self, value, config=None):
        for number in each(value):
            super().validate_value(number, config)


class BatchedDrift(LUMEModel):
    def __init__(self):
        self._variables = {
            "beam": Beams(name="beam"),
            "length": Scalars(name="length", default_value=1.0, value_range=(0.0, 10.0), unit="m"),
            "mean_x": Scalars(name="mean_x", read_only=True, unit="m"),
            "batch": Scalars(name="batch", read_only=True),
            "beam_out": Beams(name="beam_out", read_only=True),
        }
        self.reset()

    @property
    def supported_variables(self):
        return self._variables

    def reset(self):
        self._state = {"beam": None, "length": 1.0}

    def _set(self, values):
        self._state.update(values)

    def _get(self, names):
        beams, lengths = each(self._state["beam"]), each(self._state["length"])
        if len(lengths) == 1:
            lengths = lengths * len(beams)
        out = []
        for beam, length in zip(beams, lengths):
            drifted = beam.copy()
            drifted.x = beam.x + length * beam.px / beam.pz
            out.append(drifted)
        values = {"mean_x": [float(np.mean(b.x)) for b in out], "batch": [float(len(beams))] * len(beams), "beam_out": out}
        if not isinstance(self._state["beam"], (list, tuple)):  # one setting: one value each
            values = {name: value[0] for name, value in values.items()}
        return {name: values[name] for name in names}


def make_drift():
    return BatchedDrift()
'''


def particles(count: int = 200, seed: int = 1):
    """A Gaussian electron beam (openpmd-beamphysics' ParticleGroup)."""
    from tests.files.test_openpmd import particles as beam

    return beam(count, seed)


def drifted_mean_x(beam, length: float) -> float:
    import numpy as np

    return float(np.mean(beam.x + length * beam.px / beam.pz))


SETTINGS = ((5, 0.5), (6, 1.0), (7, 2.0), (8, 4.0))  # (the beam's seed, the drift's length) of each point


def check_batched_scan(services, scan, points, model: str = "batched-drift", batch: float = 2.0) -> None:
    """A scan of the batched drift over ``points`` (batches of ``batch``): every point stored under
    its own key with its own beam, its mean x, and its tracked beam as an openPMD file."""
    import pytest

    from lume_prefect.files import FileRef
    from lume_prefect.results.codec import result_keys

    assert (scan.points, scan.computed, scan.failed) == (len(points), len(points), 0), scan.failures
    assert scan.keys == result_keys(model, "1.0.0", points)  # each point's own key, from its beam's content
    assert set(scan.frame["outputs.batch"]) == {batch}  # every point was tracked in one call of the batch
    stored = services.results.store().get_many(scan.keys)
    for key, point in zip(scan.keys, points):
        result = stored[key]
        assert result.inputs["beam"] == point["beam"]  # its own beam, read back as particles
        assert result.outputs["mean_x"] == pytest.approx(drifted_mean_x(point["beam"], point["length"]))
        out = services.files.read_ref(FileRef.model_validate(result.outputs["beam_out"]), _sync=True)  # its own tracked beam
        assert type(out).__name__ == "ParticleGroup" and float(out.x.mean()) == pytest.approx(result.outputs["mean_x"])
        assert f"/{key[:16]}/" in result.outputs["beam_out"]["path"]
