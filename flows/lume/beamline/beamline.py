"""A Cheetah virtual accelerator as a lume-cheetah model: a quadrupole, a drift and a screen.

An electron beam (100 MeV, Twiss parameters at the entrance) goes through quadrupole Q1 and
2 m of drift to a screen. The quadrupole's strength ``Q1:K1`` is the model's one setting; the
beam's rms sizes on the screen, ``SCREEN:SIGMA_X`` and ``SCREEN:SIGMA_Y``, are its readings.
Cheetah tracks a vector of N strengths in one call, so a scan of it runs in batches.

``make_beamline`` is what lume-prefect registers (``beamline.py:make_beamline``): a factory,
so each worker builds its own simulator.
"""

from __future__ import annotations

import torch
from cheetah.accelerator import Drift, Quadrupole, Screen, Segment
from cheetah.particles import ParticleBeam
from lume_cheetah.actions import CheetahReadOnlyActionMixin, CheetahWritableScalarVariable
from lume_cheetah.model import LUMECheetahModel
from lume_cheetah.simulator import CheetahSimulator
from lume_torch.variables import TorchScalarVariable

K1_RANGE = (-30.0, 30.0)  # 1/m^2
PARTICLES = 2_000


class ScreenBeamSize(TorchScalarVariable, CheetahReadOnlyActionMixin):
    """A reading of a screen: an attribute (``sigma_x``, ``sigma_y``) of the beam it sees."""

    def _get(self, simulator: CheetahSimulator) -> torch.Tensor:
        screen = getattr(simulator.segment, self.element_name)
        return getattr(screen.get_read_beam(), self.element_attribute)


def make_beamline() -> LUMECheetahModel:
    """The quadrupole-and-screen beamline, its quadrupole off."""
    segment = Segment([
        Drift(name="D0", length=torch.tensor(0.5)),
        Quadrupole(name="Q1", length=torch.tensor(0.2), k1=torch.tensor(0.0)),
        Drift(name="D1", length=torch.tensor(2.0)),
        Screen(name="SCREEN", resolution=(64, 48), pixel_size=torch.tensor((5e-5, 5e-5)), is_active=True),
    ])
    torch.manual_seed(2026)  # the same macro-particles in every process
    beam = ParticleBeam.from_twiss(
        num_particles=PARTICLES,
        beta_x=torch.tensor(10.0), alpha_x=torch.tensor(-1.0), emittance_x=torch.tensor(1e-8),
        beta_y=torch.tensor(10.0), alpha_y=torch.tensor(-1.0), emittance_y=torch.tensor(1e-8),
        energy=torch.tensor(1e8),
    )
    variables = [
        CheetahWritableScalarVariable(name="Q1:K1", element_name="Q1", element_attribute="k1", value_range=K1_RANGE, unit="1/m^2",
                                      default_value=0.0, default_validation_config="error"),
        ScreenBeamSize(name="SCREEN:SIGMA_X", element_name="SCREEN", element_attribute="sigma_x", unit="m", read_only=True),
        ScreenBeamSize(name="SCREEN:SIGMA_Y", element_name="SCREEN", element_attribute="sigma_y", unit="m", read_only=True),
    ]
    return LUMECheetahModel(CheetahSimulator(segment=segment, initial_beam_distribution=beam), action_variables=variables)
