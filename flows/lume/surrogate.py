"""A lume-torch surrogate of the beamline: a small MLP trained in seconds on a Cheetah scan.

``train_surrogate`` fits ``Q1:K1 -> (SCREEN:SIGMA_X, SCREEN:SIGMA_Y)`` on the scanned points
(inputs scaled to [0, 1] and outputs to zero mean and unit spread by botorch's affine
transforms, which lume-torch keeps with the model; full-batch L-BFGS on the squared relative
error, so the narrow waist counts as much as the wide tails) and returns a lume-torch ``TorchModel``
with the beamline's variables. ``model.dump("surrogate.yml")`` writes the YAML and its ``.pt``
files: what lume-prefect registers.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from botorch.models.transforms.input import AffineInputTransform
from lume_torch.models import TorchModel
from lume_torch.variables import TorchScalarVariable

INPUT = "Q1:K1"
OUTPUTS = ("SCREEN:SIGMA_X", "SCREEN:SIGMA_Y")


def train_surrogate(k1: Sequence[float], sizes: dict[str, Sequence[float]], k1_range: tuple[float, float], *,
                    iterations: int = 1000, seed: int = 0) -> tuple[TorchModel, float]:
    """(the surrogate, its mean squared relative error on the training points) fitted on strengths ``k1`` and the beam sizes
    ``sizes`` (one sequence per output name) measured there."""
    torch.manual_seed(seed)
    x = torch.tensor(list(k1), dtype=torch.double).unsqueeze(-1)
    y = torch.stack([torch.tensor(list(sizes[name]), dtype=torch.double) for name in OUTPUTS], dim=-1)
    low, high = k1_range
    to_unit = AffineInputTransform(1, coefficient=torch.tensor([high - low], dtype=torch.double), offset=torch.tensor([low], dtype=torch.double))
    to_standard = AffineInputTransform(len(OUTPUTS), coefficient=y.std(dim=0), offset=y.mean(dim=0))
    net = torch.nn.Sequential(
        torch.nn.Linear(1, 32), torch.nn.Tanh(), torch.nn.Linear(32, 32), torch.nn.Tanh(), torch.nn.Linear(32, len(OUTPUTS)),
    ).double()
    inputs = to_unit.transform(x)

    def relative_error(standard: torch.Tensor) -> torch.Tensor:
        # squared relative error in metres: a beam a tenth of a millimetre wide at the waist
        # weighs as much as one of five millimetres far from it
        return (((to_standard.untransform(standard) - y) / y) ** 2).mean()
    # full-batch L-BFGS: a hundred points and a thousand weights converge in seconds
    optimiser = torch.optim.LBFGS(net.parameters(), max_iter=iterations, line_search_fn="strong_wolfe",
                                  tolerance_grad=1e-9, tolerance_change=1e-12)

    def loss() -> torch.Tensor:
        optimiser.zero_grad()
        value = relative_error(net(inputs))
        value.backward()
        return value

    optimiser.step(loss)
    model = TorchModel(
        model=net,
        input_variables=[TorchScalarVariable(name=INPUT, value_range=k1_range, default_value=0.0, unit="1/m^2")],
        output_variables=[TorchScalarVariable(name=name, unit="m") for name in OUTPUTS],
        input_transformers=[to_unit],
        output_transformers=[to_standard],
    )
    with torch.no_grad():
        final = relative_error(net(inputs))
    return model, float(final)
