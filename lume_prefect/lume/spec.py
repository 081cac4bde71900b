"""A LUME model's ``ModelSpec``, from its variables.

Every lume-base and lume-torch variable kind maps onto a ``Variable``: scalars (default,
``value_range``, unit), ints, bools, strings, enums (choices), arrays and images (shape,
dtype), particle groups and distributions, each with the model's own
``default_validation_config`` (what an input outside its range does). A ``LUMEModel``'s
writable variables are its inputs and its read-only ones its outputs; a ``LUMETorch``'s inputs
and outputs are as it declares them, a read-only input being a constant. Variables are read by
their attributes and class names, so lume-base 0.5 and 0.6 both work and nothing here imports
a LUME library.
"""

from __future__ import annotations

from typing import Any, Optional

from lume_prefect.models.contract import ModelSpec, Variable


def _kinds(value: Any) -> set[str]:
    return {kind.__name__ for kind in type(value).__mro__}


def is_torch_model(model: Any) -> bool:
    """A lume-torch ``LUMETorch`` (``TorchModel``, ``GPModel`` ...): ``evaluate(dict)``."""
    return "LUMETorch" in _kinds(model)


def is_lume_model(model: Any) -> bool:
    """A lume-base ``LUMEModel`` or a lume-torch ``LUMETorch``."""
    return bool({"LUMEModel", "LUMETorch"} & _kinds(model))


def is_batched_simulator(model: Any) -> bool:
    """A LUMEModel that evaluates N settings at once from tensors of length N (lume-cheetah)."""
    return "LUMECheetahModel" in _kinds(model)


def plain_value(value: Any) -> Any:
    """A variable's default as JSON (the spec travels in the registry as a JSON schema)."""
    if value is None:
        return None
    if hasattr(value, "detach"):  # a torch tensor
        value = value.detach().cpu().numpy()
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "value") and type(value).__mro__[1].__name__ in ("Enum", "str", "int"):  # an Enum member
        return value.value
    return value


# a variable's type: the first of these classes in its MRO (subclasses before their bases:
# IntVariable is a ScalarVariable, TorchNDVariable an NDVariable)
_TYPES = (
    ("DistributionVariable", "distribution"), ("ParticleGroupVariable", "particles"), ("NDVariable", "array"),
    ("EnumVariable", "any"), ("BoolVariable", "bool"), ("IntVariable", "int"), ("StrVariable", "str"), ("ScalarVariable", "float"),
)


def _config_name(config: Any) -> str:
    config = config or "none"  # a ConfigEnum member or its value
    return str(getattr(config, "value", config))


def variable_from_lume(variable: Any, *, read_only_is_constant: bool = False, default: Any = None, validation: Any = None) -> Variable:
    """Our ``Variable`` for a lume-base or lume-torch variable (``default`` when it has none;
    ``validation`` overrides its ``default_validation_config``, as a LUMETorch's
    ``input_validation_config`` does)."""
    kinds = _kinds(variable)
    fields: dict[str, Any] = {
        "name": variable.name,
        "description": getattr(variable, "description", None) or "",
        "units": getattr(variable, "unit", None) or None,
        "validation": _config_name(validation if validation is not None else getattr(variable, "default_validation_config", None)),
    }
    value = plain_value(getattr(variable, "default_value", None))
    fields["default"] = value if value is not None else default
    fields["type"] = next((kind for name, kind in _TYPES if name in kinds), "any")
    if fields["type"] == "array":
        fields["shape"] = tuple(variable.shape) if getattr(variable, "shape", None) is not None else None
        dtype = getattr(variable, "dtype", None)
        fields["dtype"] = None if dtype is None else str(dtype)
    if "EnumVariable" in kinds:
        fields["choices"] = [plain_value(c) for c in variable.options]
        fields["validation"] = "error"  # lume-base refuses another value whatever the setting
    value_range = getattr(variable, "value_range", None)
    if value_range is not None and fields["type"] in ("float", "int"):
        fields["range"] = tuple(float(v) for v in value_range)
    if read_only_is_constant and getattr(variable, "read_only", False):
        fields["constant"] = True
    if fields["type"] in ("float", "int") and isinstance(fields["default"], list) and len(fields["default"]) == 1:
        fields["default"] = fields["default"][0]  # a scalar default as a tensor of shape (1,)
    return Variable(**fields)


def spec_from_model(
    model: Any,
    name: str,
    version: str,
    *,
    vectorized: bool = False,
    description: Optional[str] = None,
    **metadata: Any,
) -> ModelSpec:
    """The spec of a LUME model (a ``LUMEModel`` or a ``LUMETorch``) under ``name`` and ``version``.

    ``metadata``: author, laboratory, facility, beampath, tags (a LUME model carries none).
    """
    if is_torch_model(model):
        configs = getattr(model, "input_validation_config", None) or {}
        inputs = [variable_from_lume(v, read_only_is_constant=True, validation=configs.get(v.name)) for v in model.input_variables]
        outputs = [variable_from_lume(v) for v in model.output_variables]
    elif is_lume_model(model):
        variables = dict(model.supported_variables)
        writable = [v for v in variables.values() if not getattr(v, "read_only", False)]
        current = _current_values(model, writable)
        inputs = [variable_from_lume(v, default=current.get(v.name)) for v in writable]
        outputs = [variable_from_lume(v) for v in variables.values() if getattr(v, "read_only", False)]
    else:
        raise TypeError(f"{type(model).__name__} is not a LUMEModel or LUMETorch")
    text = description if description is not None else _own_docstring(model)
    return ModelSpec(
        name=name, version=version, description=text, inputs=inputs, outputs=outputs, vectorized=vectorized, **metadata,
    )


def _current_values(model: Any, writable: list[Any]) -> dict[str, Any]:
    """The values of a LUMEModel's writable variables as built (after ``reset()``): the
    defaults of inputs that declare none, so a run sets only what it changes."""
    names = [v.name for v in writable if "ParticleGroupVariable" not in _kinds(v) and getattr(v, "default_value", None) is None]
    if not names:
        return {}
    model.reset()
    return {k: plain_value(v) for k, v in model.get(names).items()}


def _own_docstring(model: Any) -> str:
    """The first paragraph of the docstring of the model's class when its author wrote it (not
    a class of the LUME libraries, whose docstrings describe the library)."""
    kind = type(model)
    if kind.__module__.split(".")[0] in ("lume", "lume_torch", "lume_model", "lume_cheetah", "lume_pyat"):
        return ""
    return (kind.__doc__ or "").strip().split("\n\n")[0]
