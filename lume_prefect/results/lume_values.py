"""Values of the LUME libraries as the results store keeps them.

- a ``torch.Tensor`` is stored as the NumPy array of its values (dtype and shape kept; a
  0-d tensor as a NumPy scalar of its dtype), read back as NumPy;
- a ``torch.distributions.Distribution`` (what a GP surrogate returns) is stored as the dict
  ``{"distribution": "Normal", "mean": ..., "stddev": ..., "parameters": {"loc": ..., "scale": ...}}``:
  its class name, mean and standard deviation (left out when the distribution has none), and
  the parameters it was built with (``arg_constraints`` that are set), each as NumPy;
- an openPMD ``ParticleGroup`` a model run returns is a file: the run writes it through its
  file block (the ``openpmd`` serializer) and the Result keeps the FileRef. One given as an
  input (a tracking code's initial beam) is keyed by its content and stored with the Result
  (``results.codec``): the key, and so the cache, must not depend on where a file was written.

The libraries are looked up in ``sys.modules``: a tensor cannot exist unless torch is
imported, so a store that never sees one never imports it.
"""

from __future__ import annotations

import sys
from typing import Any

from lume_prefect.files.serializers import is_particle_group

__all__ = ["distribution_values", "is_distribution", "is_particle_group", "is_tensor", "tensor_array"]


def is_tensor(value: Any) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(value, torch.Tensor)


def is_distribution(value: Any) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(value, torch.distributions.Distribution)


def tensor_array(tensor: Any) -> Any:
    """The NumPy array of a tensor's values (a NumPy scalar for a 0-d tensor)."""
    array = tensor.detach().cpu().resolve_conj().resolve_neg().numpy()
    return array[()] if array.ndim == 0 else array


def distribution_values(distribution: Any) -> dict[str, Any]:
    """The stored form of a ``torch.distributions`` object (see the module doc)."""
    values: dict[str, Any] = {"distribution": type(distribution).__name__}
    for moment in ("mean", "stddev"):
        try:
            values[moment] = tensor_array(getattr(distribution, moment))
        except NotImplementedError:  # e.g. a Cauchy has no mean
            pass
    parameters = {}
    for name in getattr(distribution, "arg_constraints", {}):
        # lazily computed parameters (probs of a Categorical built from logits) are not set
        given = distribution.__dict__.get(name)
        if is_tensor(given):
            parameters[name] = tensor_array(given)
    values["parameters"] = parameters
    return values
