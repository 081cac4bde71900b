"""Real LUME models written into a source folder, as their authors write them: a lume-torch
surrogate dumped to YAML (and built by a factory), a lume-cheetah virtual accelerator, and a
lume-base LUMEModel with every variable kind."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.models.conftest import make_services, real_api, temp_services  # noqa: F401 - fixtures

TORCH_FACTORY = '''
import torch
from lume_torch.models import TorchModel
from lume_torch.variables import TorchScalarVariable


def make_surrogate():
    """A linear surrogate y = 2 x + 3 q + 1 (torch.nn.Linear with set weights)."""
    net = torch.nn.Linear(2, 1).double()
    with torch.no_grad():
        net.weight[:] = torch.tensor([[2.0, 3.0]])
        net.bias[:] = torch.tensor([1.0])
    return TorchModel(
        model=net,
        input_variables=[
            TorchScalarVariable(name="x", default_value=0.5, value_range=(0.0, 1.0), unit="m", default_validation_config="{validation}"),
            TorchScalarVariable(name="QUAD:IN20:425:BCTRL", default_value=0.1, value_range=(0.0, 1.0), unit="kG"),
        ],
        output_variables=[TorchScalarVariable(name="y", unit="m")],
    )
'''

CHEETAH = '''
import torch
from cheetah.accelerator import Drift, Quadrupole, Screen, Segment
from cheetah.particles import ParticleBeam
from lume_cheetah.actions import CheetahReadOnlyNDVariable, CheetahWritableScalarVariable
from lume_cheetah.model import LUMECheetahModel
from lume_cheetah.simulator import CheetahSimulator


def make_beamline():
    """Two quadrupoles and a screen."""
    torch.manual_seed(1)
    segment = Segment([
        Quadrupole(name="Q1", length=torch.tensor(0.2), k1=torch.tensor(0.0)),
        Drift(name="D1", length=torch.tensor(1.0)),
        Quadrupole(name="Q2", length=torch.tensor(0.2), k1=torch.tensor(0.0)),
        Drift(name="D2", length=torch.tensor(1.0)),
        Screen(name="S1", resolution=(16, 12), pixel_size=torch.tensor((5e-4, 5e-4)), is_active=True),
    ])
    beam = ParticleBeam.from_twiss(
        beta_x=torch.tensor(5.0), beta_y=torch.tensor(5.0), emittance_x=torch.tensor(1e-6), emittance_y=torch.tensor(1e-6),
        num_particles=2000, energy=torch.tensor(1e8),
    )
    variables = [
        CheetahWritableScalarVariable(name="QUAD:Q1:BCTRL", element_name="Q1", element_attribute="k1", value_range=(-20.0, 20.0), default_validation_config="error"),
        CheetahWritableScalarVariable(name="QUAD:Q2:BCTRL", element_name="Q2", element_attribute="k1", value_range=(-20.0, 20.0), default_validation_config="error"),
        CheetahReadOnlyNDVariable(name="SCREEN:S1:IMAGE", element_name="S1", element_attribute="reading", shape=(12, 16)),
    ]
    return LUMECheetahModel(CheetahSimulator(segment=segment, initial_beam_distribution=beam), action_variables=variables)
'''

EVERY_KIND = '''
import numpy as np
from lume.model import LUMEModel
from lume.variables import (
    BoolVariable, EnumVariable, IntVariable, NDVariable, ParticleGroupVariable, ScalarVariable, StrVariable,
)


class Counter(LUMEModel):
    """A simulator that remembers: every set() adds to its count."""

    def __init__(self):
        self._variables = {{
            "gain": ScalarVariable(name="gain", default_value=1.0, value_range=(0.0, 10.0), unit="V", default_validation_config="{validation}"),
            "turns": IntVariable(name="turns", default_value=1, value_range=(0, 100)),
            "enabled": BoolVariable(name="enabled", default_value=True),
            "label": StrVariable(name="label", default_value="a"),
            "mode": EnumVariable(name="mode", default_value="fast", options=["fast", "slow"]),
            "mask": NDVariable(name="mask", shape=(4, 3), dtype=np.float64, default_value=np.ones((4, 3))),
            "count": IntVariable(name="count", read_only=True),
            "total": ScalarVariable(name="total", read_only=True, unit="V"),
            "image": NDVariable(name="image", shape=(4, 3), read_only=True),
            "beam": ParticleGroupVariable(name="beam", read_only=True),
        }}
        self.reset()

    @property
    def supported_variables(self):
        return self._variables

    def reset(self):
        self._state = {{"gain": 1.0, "turns": 1, "enabled": True, "label": "a", "mode": "fast", "mask": np.ones((4, 3)), "count": 0}}

    def _set(self, values):
        self._state.update(values)
        self._state["count"] += 1

    def _get(self, names):
        from beamphysics import ParticleGroup

        s = self._state
        total = s["gain"] * s["turns"] * s["enabled"] * (2.0 if s["mode"] == "slow" else 1.0) + s["count"]
        n = 10
        beam = ParticleGroup(data=dict(
            x=np.linspace(0, 1e-3, n) * s["gain"], px=np.zeros(n), y=np.zeros(n), py=np.zeros(n), z=np.zeros(n),
            pz=np.full(n, 1e6), t=np.zeros(n), status=np.ones(n, dtype=int), weight=np.full(n, 1e-12), species="electron",
        ))
        values = {{**s, "total": float(total), "image": s["mask"] * total, "beam": beam}}
        return {{name: values[name] for name in names}}


def make_counter():
    return Counter()
'''


def write_source(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(textwrap.dedent(text))
    return folder


@pytest.fixture
def torch_source(tmp_path) -> Path:
    """A folder with a lume-torch surrogate's factory (``surrogate.py:make_surrogate``) and the
    same model dumped to ``model.yml`` plus its ``.pt`` file."""
    folder = write_source(tmp_path / "surrogate", {"surrogate.py": TORCH_FACTORY.format(validation="error")})
    from lume_prefect.models.plain import import_entrypoint

    import_entrypoint("surrogate.py:make_surrogate", str(folder))().dump(str(folder / "model.yml"))
    return folder


@pytest.fixture
def cheetah_source(tmp_path) -> Path:
    return write_source(tmp_path / "beamline", {"beamline.py": CHEETAH})


def counter_source(folder: Path, validation: str = "none") -> Path:
    return write_source(folder, {"counter.py": EVERY_KIND.format(validation=validation)})
