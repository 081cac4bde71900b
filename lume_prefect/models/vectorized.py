"""Calling a vectorized model (``ModelSpec(vectorized=True)``) on many points at once.

The function gets every input as a list of N values (one per point, in order) and returns
every output as a sequence of N values: a list or tuple, a NumPy array or a torch tensor
(first dimension N), a ``torch.distributions`` object of batch shape (N, ...), or a dict of
such sequences. ``split_outputs`` cuts them back into one dict of outputs per point:

- a 1-D array or tensor gives Python numbers (``tolist``), a wider one its rows (NumPy
  arrays, dtype and shape kept);
- a distribution gives, per point, its stored form (``results.lume_values``: class name,
  mean, standard deviation and parameters);
- a value that is not a sequence of N values is an InvalidOutput naming the model and the output.

A single run (``run_model``, ``evaluate``, a deployment's run) calls the function with N=1.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from lume_prefect.models.errors import InvalidOutput
from lume_prefect.results.lume_values import distribution_values, is_distribution, is_tensor, tensor_array

if TYPE_CHECKING:
    from lume_prefect.models.contract import ModelSpec


def input_columns(spec: ModelSpec, points: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """The inputs of ``points`` (checked and completed by the spec) as one list per input."""
    return {v.name: [point[v.name] for point in points] for v in spec.inputs}


def call_points(spec: ModelSpec, fn: Callable[..., Any], points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The outputs of ``fn`` at each of ``points``, from one call of the vectorized function."""
    return split_outputs(spec, fn(**input_columns(spec, points)), len(points))


def split_outputs(spec: ModelSpec, outputs: Any, count: int) -> list[dict[str, Any]]:
    """One dict of outputs per point from the outputs of one vectorized call over ``count`` points."""
    if not isinstance(outputs, Mapping):
        raise InvalidOutput(spec.name, f"the vectorized function must return a dict of outputs, got {type(outputs).__name__}")
    missing = [v.name for v in spec.outputs if v.name not in outputs]
    if missing:
        raise InvalidOutput(spec.name, f"declared outputs missing from the returned dict: {', '.join(missing)}")
    points: list[dict[str, Any]] = [{} for _ in range(count)]
    for name, value in outputs.items():
        for point, item in zip(points, _per_point(spec.name, name, value, count)):
            point[name] = item
    return points


def _per_point(model: str, name: str, value: Any, count: int) -> list[Any]:
    if is_distribution(value):
        value = distribution_values(value)
    if isinstance(value, Mapping):  # a dict of sequences: one dict per point
        points: list[dict[str, Any]] = [{} for _ in range(count)]
        for key, inner in value.items():
            if key == "distribution" and isinstance(inner, str):  # the class name, the same at every point
                inner = [inner] * count
            for point, item in zip(points, _per_point(model, f"{name}.{key}", inner, count)):
                point[key] = item
        return points
    if is_tensor(value):
        value = tensor_array(value)
    shape = getattr(value, "shape", None)
    if shape is not None and hasattr(value, "tolist"):  # a NumPy array (or a scalar: shape ())
        if len(shape) == 0 or shape[0] != count:
            raise _wrong_length(model, name, f"shape {tuple(shape)}", count)
        return value.tolist() if len(shape) == 1 else list(value)
    if isinstance(value, (list, tuple)):
        if len(value) != count:
            raise _wrong_length(model, name, f"{len(value)} values", count)
        return list(value)
    raise _wrong_length(model, name, f"{type(value).__name__} {value!r:.60}", count)


def _wrong_length(model: str, name: str, got: str, count: int) -> InvalidOutput:
    return InvalidOutput(model, f"output {name!r} of the vectorized function must be a sequence of {count} values "
                                f"(one per point), got {got}")
