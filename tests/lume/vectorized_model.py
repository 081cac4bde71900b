"""A vectorized thin-lens quadrupole model for the batched-scan tests, written into a model folder."""

from __future__ import annotations

VQUAD = '''
"""Evaluates every point of a batch in one NumPy call; tells how many points each call had."""

import numpy as np

from lume_prefect import model_logger
from lume_prefect.models import ModelSpec

spec = ModelSpec(
    name="{name}", version="1.0.0", author="tests", laboratory="test", facility="test", beampath="test", vectorized=True,
    inputs=[
        {{"name": "k1", "range": [-5.0, 5.0], "units": "1/m^2", "default": 0.0}},
        {{"name": "length", "range": [0.01, 2.0], "units": "m", "default": 0.1}},
        {{"name": "label", "type": "str", "default": "q"}},
    ],
    outputs=[{{"name": "strength"}}, {{"name": "batch", "type": "int"}}, {{"name": "profile", "type": "array"}}],
)


@spec.flow
def vquad(k1, length, label):
    k1, length = np.asarray(k1), np.asarray(length)
    if np.any(k1 == 4.5):
        raise ValueError("unstable lattice at k1=4.5")
    count = len(k1)
    model_logger().info("called on %d points", count)
    strength = k1 * length
    if any(text == "short" for text in label):  # a bug: one value too few
        strength = strength[:-1]
    return {{"strength": strength, "batch": [count] * count, "profile": np.outer(k1, np.linspace(0.0, 1.0, 3))}}
'''


def vquad_services(tmp_path):
    """(services, name): saved services with a live vectorized quad model."""
    from tests.scans.conftest import services_with_live_code

    return services_with_live_code(tmp_path, VQUAD, "vquad")
