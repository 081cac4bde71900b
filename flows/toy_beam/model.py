"""A toy beam model: a Gaussian bunch through a drift. Small, real, and fast.

It is the example model of this repository: tests deploy versions of it, the quickstart
runs it, and benchmarks time it.
"""

from __future__ import annotations

import numpy as np

from lume_prefect.models import ModelSpec, current_services

spec = ModelSpec(
    name="toy-beam",
    version="1.0.0",
    description="Gaussian bunch through a drift: rms size after the drift.",
    author="lume-prefect",
    laboratory="example",
    facility="example",
    beampath="drift",
    inputs=[
        {"name": "sigma_x", "default": 1e-3, "range": [1e-6, 1e-1], "units": "m", "description": "Initial rms size."},
        {"name": "sigma_px", "default": 1e-4, "range": [0.0, 1e-2], "units": "rad", "description": "Initial rms divergence."},
        {"name": "drift_m", "default": 2.0, "range": [0.0, 100.0], "units": "m", "description": "Drift length."},
        {"name": "n_particles", "type": "int", "default": 10_000, "range": [10, 10_000_000], "description": "Macro-particles."},
        {"name": "save_particles", "type": "bool", "default": False, "description": "Also store the final particles (HDF5)."},
    ],
    outputs=[
        {"name": "rms_x", "units": "m"},
        {"name": "rms_px", "units": "rad"},
    ],
)


@spec.flow
def toy_beam(sigma_x: float, sigma_px: float, drift_m: float, n_particles: int, save_particles: bool) -> dict:
    rng = np.random.default_rng(7)
    x = rng.normal(0.0, sigma_x, n_particles)
    px = rng.normal(0.0, sigma_px, n_particles)
    x = x + drift_m * px
    outputs = {"rms_x": float(x.std()), "rms_px": float(px.std())}
    if save_particles:
        outputs["particles"] = current_services().files.write(
            f"toy-beam/{spec.version}/particles-{sigma_x:g}-{drift_m:g}.h5", {"x": x, "px": px, "@attrs": {"units_x": "m"}}
        )
    return outputs
