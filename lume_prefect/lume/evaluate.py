"""Calling a LUME model honestly, one point or a batch of N.

- A ``LUMETorch`` is called through ``evaluate(dict)`` with tensors whose first dimension is
  the batch: N points in one call.
- A ``LUMEModel`` is a stateful simulator: per point (or per batch) ``reset()``, ``set(inputs)``,
  ``get(outputs)``, so its outputs depend on the inputs alone and a stored result is honest.
  A model registered as stateless is not reset. lume-cheetah evaluates N settings at once
  from tensors of length N.

The function takes the inputs as keyword arguments (a model's variables may be named like
``QUAD:IN20:425:BCTRL``); vectorized (``spec.vectorized``), every input is a sequence of N
values and every output comes back as a sequence of N values.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from lume_prefect.lume.spec import is_torch_model
from lume_prefect.models.contract import ModelSpec, Variable

_locks: dict[int, tuple[Any, threading.Lock]] = {}


def _lock(model: Any) -> threading.Lock:
    # one per simulator instance: its state is shared by every caller of the process
    return _locks.setdefault(id(model), (model, threading.Lock()))[1]


def model_function(model: Any, spec: ModelSpec, *, stateless: bool = False) -> Callable[..., dict[str, Any]]:
    """The function of ``model`` as ``spec`` declares it (vectorized if ``spec.vectorized``)."""
    if is_torch_model(model):
        batch = _torch_batch(model, spec)
    else:
        batch = _simulator_batch(model, spec, stateless)
    if spec.vectorized:
        return _named(batch, spec)
    return _named(_one_point(batch), spec)


def _named(call: Callable[[dict[str, Any]], dict[str, Any]], spec: ModelSpec) -> Callable[..., dict[str, Any]]:
    def lume_model(**inputs: Any) -> dict[str, Any]:
        return call(inputs)

    lume_model.__qualname__ = lume_model.__name__ = spec.name.replace("-", "_")
    return lume_model


def _one_point(batch: Callable[[dict[str, Any]], dict[str, Any]]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def point(inputs: dict[str, Any]) -> dict[str, Any]:
        return {k: v[0] for k, v in batch({k: [v] for k, v in inputs.items()}).items()}

    return point


def _size(inputs: dict[str, Any]) -> int:
    return len(next(iter(inputs.values()))) if inputs else 1


def _tensor(variable: Variable, values: Any, dtype: Any) -> Any:
    """A sequence of N values of ``variable`` as one tensor of shape (N, *shape)."""
    import torch

    if variable.dtype is not None:
        dtype = getattr(torch, variable.dtype)
    if isinstance(values, torch.Tensor):
        return values.to(dtype)
    if values and isinstance(values[0], torch.Tensor):
        return torch.stack([v.to(dtype) for v in values])
    import numpy as np

    return torch.as_tensor(np.asarray(values), dtype=dtype)


def _split(variable: Variable | None, value: Any, size: int) -> list[Any]:
    """An output of N points as N plain values: floats, NumPy arrays, distributions, as given."""
    import numpy as np
    import torch

    if isinstance(value, torch.distributions.Distribution):
        return _split_distribution(value, size)
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        if variable is not None and variable.type in ("float", "int", "bool"):
            return value.reshape(size).tolist()
        if variable is not None and variable.shape is not None:
            return list(value.reshape(size, *variable.shape))
        if value.ndim and value.shape[0] == size:
            return list(value)
    elif isinstance(value, (list, tuple)) and len(value) == size:
        return list(value)
    if size == 1:
        return [value]
    name = variable.name if variable is not None else "?"
    raise ValueError(f"output {name!r}: a batch of {size} points gave {type(value).__name__} {getattr(value, 'shape', '')}, not {size} values")


def _split_distribution(value: Any, size: int) -> list[Any]:
    if size == 1 and not value.batch_shape:
        return [value]
    parameters = {k: v for k, v in vars(value).items() if k in value.arg_constraints}
    kind = type(value)
    return [kind(**{k: v[i] for k, v in parameters.items()}, validate_args=False) for i in range(size)]


def _torch_batch(model: Any, spec: ModelSpec) -> Callable[[dict[str, Any]], dict[str, Any]]:
    import torch

    dtype = getattr(model, "dtype", torch.double)
    inputs = {v.name: v for v in spec.inputs}
    outputs = {v.name: v for v in spec.outputs}

    def batch(values: dict[str, Any]) -> dict[str, Any]:
        size = _size(values)
        tensors = {name: _tensor(inputs[name], seq, dtype) for name, seq in values.items()}
        evaluated = model.evaluate(tensors)
        return {name: _split(outputs.get(name), value, size) for name, value in evaluated.items()}

    return batch


def _simulator_batch(model: Any, spec: ModelSpec, stateless: bool) -> Callable[[dict[str, Any]], dict[str, Any]]:
    as_tensors = _takes_tensors(model)
    inputs = {v.name: v for v in spec.inputs}
    outputs = {v.name: v for v in spec.outputs}
    names = list(outputs)
    lock = _lock(model)

    def convert(name: str, seq: Any) -> Any:
        """N values of an input as the simulator takes them: tensors for a torch simulator, arrays
        as NumPy arrays of their dtype; other values as they are."""
        variable = inputs[name]
        if variable.type not in ("float", "int", "array"):
            return seq
        if as_tensors:
            import torch

            return _tensor(variable, seq, torch.int64 if variable.type == "int" else torch.get_default_dtype())
        import numpy as np

        return np.asarray(seq, dtype=variable.dtype) if variable.type == "array" else seq

    def batch(values: dict[str, Any]) -> dict[str, Any]:
        size = _size(values)
        if spec.vectorized:
            settings = {name: convert(name, seq) for name, seq in values.items()}
        else:  # one point: the values themselves
            settings = {name: convert(name, seq)[0] for name, seq in values.items()}
        with lock:
            if not stateless:
                model.reset()
            model.set(settings)
            got = model.get(names)
        if spec.vectorized:
            return {name: _split(outputs[name], got[name], size) for name in names}
        return {name: [_plain(outputs[name], got[name])] for name in names}

    return batch


def _plain(variable: Variable, value: Any) -> Any:
    """One output of one point as a plain value: a float, a NumPy array; else as it is."""
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    if hasattr(value, "ndim") and variable.type in ("float", "int", "bool") and value.size == 1:
        return value.reshape(()).item()
    return value


def _takes_tensors(model: Any) -> bool:
    """A simulator built on torch (lume-cheetah: ``nn.Module``) takes tensors, not floats."""
    return any(kind.__module__.startswith("torch") for kind in type(model).__mro__)
