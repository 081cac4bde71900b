"""A model's contract: its name, version, typed inputs and outputs, and metadata.

A model is a Prefect flow plus a ``ModelSpec``. The spec validates inputs before a run is
submitted (an unknown, missing, mistyped or out-of-range input is an ``InvalidInput`` naming
the variable and its range), and becomes the JSON schema of the flow's parameters in the
registry and in the Prefect deployment. The field names of lume-model's variable dicts
(``default_value``, ``value_range``, ``unit``, ``variable_type``) are accepted as aliases; a
LUME model's own variables (lume-base, lume-torch) become a spec through ``lume_prefect.lume``.
"""

from __future__ import annotations

import difflib
import keyword
import math
import re
from collections.abc import Mapping
from numbers import Real
from typing import Any, Literal, Optional

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator, model_validator

from lume_prefect.core.names import MODEL_NAME_PATTERN, MODEL_NAME_RULE
from lume_prefect.models.errors import InvalidInput, InvalidOutput

VariableType = Literal["float", "int", "bool", "str", "array", "dict", "file", "particles", "distribution", "any"]
Validation = Literal["none", "warn", "error"]
SPEC_KEY = "x-lume-spec"  # where the full spec travels inside a JSON schema

_JSON_TYPES: dict[str, dict[str, Any]] = {
    "float": {"type": "number"},
    "int": {"type": "integer"},
    "bool": {"type": "boolean"},
    "str": {"type": "string"},
    "array": {"type": "array"},
    "dict": {"type": "object"},
    "file": {"type": "object"},
    "particles": {"type": "object"},  # as JSON, the FileRef of an openPMD file (models.particles.fileref_schema)
    "distribution": {},  # a probability distribution (outputs of probabilistic surrogates)
    "any": {},
}
# Keys of LUME variables (lume-model, lume-base, lume-torch) that say nothing a spec checks:
# accepted and dropped, so a LUME variable list works as it is. Any other unknown key is
# refused: a misspelt "rnage" would otherwise silently drop the range check.
LUME_IGNORED_KEYS = frozenset(
    {"is_constant", "read_only", "precision", "default_validation_config", "value_range_tolerance", "variable_class", "shape", "dtype"}
)
# A variable name is a flow parameter and a results-store key: PV-style names with ':' are
# fine, but not whitespace, control characters, '.', a leading '$' or a Python keyword.
_BAD_NAME = re.compile(r"[\s\x00-\x1f\x7f.]|^\$")
# LUME-model's variable_type names, and Python's
_TYPE_ALIASES = {"scalar": "float", "number": "float", "integer": "int", "boolean": "bool", "string": "str", "image": "array", "object": "dict"}


class Variable(BaseModel):
    """One input or output of a model: name, type, units, default, allowed range or choices."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    name: str = Field(min_length=1, description="Name of the variable (a flow parameter for inputs).")
    type: VariableType = Field(
        default="float", validation_alias=AliasChoices("type", "variable_type"), description="Value type."
    )
    default: Any = Field(default=None, validation_alias=AliasChoices("default", "default_value"), description="Default value; None means required (inputs).")
    units: Optional[str] = Field(default=None, validation_alias=AliasChoices("units", "unit"), description="Physical units.")
    range: Optional[tuple[float, float]] = Field(
        default=None, validation_alias=AliasChoices("range", "value_range"), description="Allowed closed range [low, high] of a number."
    )
    choices: Optional[list[Any]] = Field(default=None, description="Allowed values.")
    description: str = Field(default="", description="What the variable means.")
    shape: Optional[tuple[int, ...]] = Field(default=None, description="Shape of an array value (one point), checked on every input: a (3,) list is refused for a (64, 64) image.")
    dtype: Optional[str] = Field(default=None, description="NumPy name of an array's element type (float64, float32, int64, bool ...), checked on every input: elements that do not cast safely to it are refused.")
    validation: Validation = Field(default="error", description="An input outside its range or choices: error refuses it before anything runs, warn runs and records the warning on the result, none runs.")
    constant: bool = Field(default=False, description="The input always takes its default (a read-only input of a LUME model): another value is refused.")

    @field_validator("dtype", mode="before")
    @classmethod
    def _dtype_name(cls, value: Any) -> Any:
        # a torch dtype (torch.float32) by its NumPy name; a NumPy dtype or type by its name
        if value is None or isinstance(value, str) and not value.startswith("torch."):
            return value
        text = str(value)
        if text.startswith("torch."):
            return text.removeprefix("torch.")
        import numpy as np

        return np.dtype(value).name

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        known = set(cls.model_fields)
        for field in cls.model_fields.values():
            if isinstance(field.validation_alias, AliasChoices):
                known.update(a for a in field.validation_alias.choices if isinstance(a, str))
        unknown = [k for k in data if k not in known and k not in LUME_IGNORED_KEYS]
        if unknown:
            key = unknown[0]
            close = difflib.get_close_matches(str(key), sorted(known), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(sorted(cls.model_fields))}"
            raise ValueError(f"variable {data.get('name')!r}: unknown key {key!r}{hint}")
        return {k: v for k, v in data.items() if k not in LUME_IGNORED_KEYS or k in cls.model_fields}

    @field_validator("name")
    @classmethod
    def _plain_name(cls, value: str) -> str:
        if _BAD_NAME.search(value) or keyword.iskeyword(value) or value == "__lume__":
            raise ValueError(
                f"variable name {value!r} is not allowed: no whitespace, control characters or '.', "
                "no leading '$', not a Python keyword (PV-style names with ':' are fine)"
            )
        return value

    @field_validator("choices")
    @classmethod
    def _some_choices(cls, value: Optional[list[Any]]) -> Optional[list[Any]]:
        if value is not None and not value:
            raise ValueError("choices must list at least one value (an empty list would refuse every value); omit it to allow any")
        return value

    @field_validator("type", mode="before")
    @classmethod
    def _type_alias(cls, value: Any) -> Any:
        if isinstance(value, type):
            value = value.__name__
        return _TYPE_ALIASES.get(value, value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _consistent(self) -> Variable:
        if self.range is not None:
            low, high = self.range
            if not low <= high:
                raise ValueError(f"variable {self.name!r}: range low {low} is above high {high}")
            if self.type not in ("float", "int"):
                raise ValueError(f"variable {self.name!r}: a range needs type float or int, not {self.type}")
        if (self.shape is not None or self.dtype is not None) and self.type != "array":
            raise ValueError(f"variable {self.name!r}: a shape or dtype needs type array, not {self.type}")
        if self.dtype is not None:
            import numpy as np

            try:
                np.dtype(self.dtype)
            except TypeError:
                raise ValueError(f"variable {self.name!r}: dtype {self.dtype!r} is not a NumPy dtype") from None
        if self.constant and self.default is None:
            raise ValueError(f"variable {self.name!r}: a constant needs a default")
        if self.default is not None:
            try:
                self.check("the spec", self.default)
            except InvalidInput as exc:
                raise ValueError(f"variable {self.name!r}: its default {exc.problem}") from None
        return self

    @property
    def required(self) -> bool:
        return self.default is None

    def describe_range(self) -> str:
        units = f" {self.units}" if self.units else ""
        if self.range is not None:
            return f"[{self.range[0]:g}, {self.range[1]:g}]{units}"
        if self.choices is not None:
            return f"one of {self.choices!r}"
        if self.shape is not None or self.dtype is not None:
            return f"array of shape {self.shape or 'any'} and dtype {self.dtype or 'any'}"
        return self.type

    def form_description(self) -> str:
        """The description with units and allowed values, as the Prefect run form shows it
        (the form displays ``description`` but neither ``x-units`` nor ``minimum``/``maximum``)."""
        parts = [self.description.rstrip(".") + "." if self.description else ""]
        if self.units:
            parts.append(f"Units: {self.units}.")
        if self.range is not None:
            low, high = (f"{int(v):,}" if self.type == "int" else f"{v:g}" for v in self.range)
            parts.append(f"Range: {low} to {high}{' ' + self.units if self.units else ''}.")
        if self.choices is not None:
            parts.append(f"One of: {', '.join(map(str, self.choices))}.")
        if self.shape is not None:
            parts.append(f"Shape: {self.shape}.")
        if self.dtype is not None:
            parts.append(f"Dtype: {self.dtype}.")
        if self.constant:
            parts.append("Constant.")
        if self.type == "particles":
            from lume_prefect.models.particles import FORM_DESCRIPTION

            parts.append(FORM_DESCRIPTION)
        return " ".join(p for p in parts if p)

    def json_schema(self) -> dict[str, Any]:
        if self.type == "particles":
            from lume_prefect.models.particles import fileref_schema

            schema: dict[str, Any] = {"title": self.name, **fileref_schema()}
        else:
            schema = {"title": self.name, **_JSON_TYPES[self.type]}
        if self.form_description():
            schema["description"] = self.form_description()
        if self.default is not None:
            schema["default"] = self.default
        if self.range is not None and self.validation == "error":  # else outside the range still runs
            schema["minimum"], schema["maximum"] = self.range
        if self.choices is not None and self.validation == "error":
            schema["enum"] = self.choices
        if self.units:
            schema["x-units"] = self.units
        if self.shape is not None:
            schema["x-shape"] = list(self.shape)
        if self.dtype is not None:
            schema["x-dtype"] = self.dtype
        return schema

    def check(self, model: str, value: Any) -> Any:
        """``value`` converted to this variable's type, or InvalidInput naming the variable.

        A value outside the range or choices is refused unless ``validation`` is warn or none
        (``out_of_range`` then says why, for the result to record)."""
        value = self._coerce(model, value)
        if self.range is not None and self.validation == "error":
            low, high = self.range
            if isinstance(value, float) and math.isnan(value) or not low <= value <= high:
                raise InvalidInput(model, self.name, f"= {value!r} is outside its range {self.describe_range()}")
        if self.choices is not None and self.validation == "error" and value not in self.choices:
            raise InvalidInput(model, self.name, f"= {value!r} is not {self.describe_range()}")
        if self.constant and value != self.default:
            raise InvalidInput(model, self.name, f"= {value!r} is a constant of the model: it is always {self.default!r}")
        return value

    def out_of_range(self, value: Any) -> str:
        """What is wrong with a checked ``value`` against the range or choices ("" if nothing)."""
        if self.range is not None:
            low, high = self.range
            if isinstance(value, float) and math.isnan(value) or not low <= value <= high:
                return f"= {value!r} is outside its range {self.describe_range()}"
        if self.choices is not None and value not in self.choices:
            return f"= {value!r} is not {self.describe_range()}"
        return ""

    def _coerce(self, model: str, value: Any) -> Any:
        kind = self.type
        if kind in ("float", "int"):
            if isinstance(value, bool) or not _is_number(value):
                raise self._wrong(model, value)
            if not math.isfinite(value):
                raise InvalidInput(model, self.name, f"= {value!r} is not a finite number")
            if kind == "int":
                if float(value) != int(value):
                    raise self._wrong(model, value)
                return int(value)
            return float(value)
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidInput(model, self.name, f"= {value!r} is not a finite number")
        if kind == "bool":
            if not isinstance(value, bool) and type(value).__name__ != "bool_":
                raise self._wrong(model, value)
            return bool(value)
        if (
            kind == "str" and not isinstance(value, str)
            or kind == "array" and not (isinstance(value, (list, tuple)) or hasattr(value, "__array__"))
            or kind in ("dict", "file") and not isinstance(value, Mapping)
            or kind == "particles" and not (isinstance(value, Mapping) or type(value).__name__ == "ParticleGroup")
        ):
            raise self._wrong(model, value)
        if kind == "array" and (self.shape is not None or self.dtype is not None):
            self._check_array(model, value)
        return value

    def _check_array(self, model: str, value: Any) -> None:
        import numpy as np

        if hasattr(value, "shape") and hasattr(value, "dtype"):  # NumPy arrays, torch tensors: no copy
            shape, dtype = tuple(value.shape), str(value.dtype).removeprefix("torch.")
        else:
            try:
                array = np.asarray(value)
            except ValueError as exc:  # ragged nested lists
                raise InvalidInput(model, self.name, f"is not a rectangular array: {exc}") from None
            shape, dtype = array.shape, str(array.dtype)
        if self.shape is not None and shape != self.shape:
            raise InvalidInput(model, self.name, f"must have shape {self.shape}, got shape {shape}")
        if self.dtype is not None and dtype != self.dtype:
            try:
                safe = np.can_cast(np.dtype(dtype), np.dtype(self.dtype), casting="same_kind")
            except TypeError:
                safe = False
            if not safe:
                raise InvalidInput(model, self.name, f"must have dtype {self.dtype}, got dtype {dtype}")

    def _wrong(self, model: str, value: Any) -> InvalidInput:
        # built only on error: a scan checks every value of thousands of points
        return InvalidInput(model, self.name, f"must be {self.type}, got {type(value).__name__} {value!r}")


def _is_number(value: Any) -> bool:
    # float and int first: an isinstance check against the Real ABC costs microseconds, and a
    # scan checks every value of thousands of points
    kind = type(value)
    return kind is float or kind is int or isinstance(value, Real)


class ModelSpec(BaseModel):
    """What a model is: name, version, inputs and outputs, and the standard LUME metadata.

    Examples:
        ```python
        from lume_prefect.models import ModelSpec

        spec = ModelSpec(
            name="toy-beam", version="1.0.0", author="A. Physicist", laboratory="SLAC",
            facility="LCLS", beampath="cu_hxr",
            inputs=[{"name": "sigma_x", "default": 1e-3, "range": [1e-6, 1e-1], "units": "m"}],
            outputs=[{"name": "rms_x", "units": "m"}],
        )

        @spec.flow
        def toy_beam(sigma_x: float) -> dict:
            return {"rms_x": sigma_x}
        ```
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=MODEL_NAME_PATTERN, description="Model name (also the Prefect flow name): " + MODEL_NAME_RULE[4:] + ".")
    version: str = Field(min_length=1, description="PEP 440 version of this code.")
    description: str = Field(default="", description="What the model computes.")
    inputs: list[Variable] = Field(default_factory=list, description="Inputs, in order.")
    outputs: list[Variable] = Field(default_factory=list, description="Outputs, in order.")
    author: str = Field(default="", description="Who maintains the model.")
    laboratory: str = Field(default="", description="Laboratory.")
    facility: str = Field(default="", description="Facility.")
    beampath: str = Field(default="", description="Beam path the model describes.")
    tags: dict[str, str] = Field(default_factory=dict, description="Free tags.")
    vectorized: bool = Field(default=False, description="The function takes every input as a sequence of N values and returns every output as a sequence of N values: run_scan calls it once per batch.")

    @field_validator("version")
    @classmethod
    def _pep440(cls, value: str) -> str:
        from packaging.version import InvalidVersion, Version

        try:
            return str(Version(value))  # normal form, as the registry stores it
        except InvalidVersion:
            raise ValueError(f"version {value!r} is not a PEP 440 version (e.g. 1.2.0)") from None

    @field_validator("inputs", "outputs")
    @classmethod
    def _unique_names(cls, variables: list[Variable]) -> list[Variable]:
        seen: set[str] = set()
        for variable in variables:
            if variable.name in seen:
                raise ValueError(f"variable {variable.name!r} is declared twice")
            seen.add(variable.name)
        return variables

    def input(self, name: str) -> Variable:
        for variable in self.inputs:
            if variable.name == name:
                return variable
        raise KeyError(name)

    def validate_inputs(self, given: Optional[Mapping[str, Any]] = None) -> dict[str, Any]:
        """Inputs checked, converted and completed with defaults; InvalidInput names the culprit."""
        values, problems = self.check_inputs(given)
        if problems:
            raise problems[0]
        return values

    def check_inputs(self, given: Optional[Mapping[str, Any]] = None) -> tuple[dict[str, Any], list[InvalidInput]]:
        """Every problem of ``given`` at once: (the checked, completed values, one InvalidInput
        per unknown, missing, mistyped or out-of-range input). ``validate_inputs`` raises the
        first; a scan reports them all. The values are complete only without problems."""
        if given is not None and not isinstance(given, Mapping):
            raise TypeError(f"model {self.name!r}: inputs must be a dict of input names to values, got {type(given).__name__} {given!r}")
        given = given if isinstance(given, dict) else dict(given or {})
        problems: list[InvalidInput] = []
        known = {v.name for v in self.inputs}
        if not known.issuperset(given):
            for name in given:
                if name not in known:
                    problems.append(InvalidInput(self.name, name, f"is not an input of this model; inputs: {', '.join(sorted(known)) or 'none'}"))
        values: dict[str, Any] = {}
        for variable in self.inputs:
            value = given.get(variable.name)
            if value is not None:
                try:
                    values[variable.name] = variable.check(self.name, value)
                except InvalidInput as problem:
                    problems.append(problem)
            elif variable.required:
                problems.append(InvalidInput(self.name, variable.name, f"is required ({variable.describe_range()})"))
            else:
                values[variable.name] = variable.default
        return values, problems

    def input_warnings(self, values: Mapping[str, Any]) -> list[str]:
        """Checked ``values`` outside the range or choices of inputs whose validation is warn:
        one message per input, naming it, for the result to record."""
        return [
            f"input {v.name!r} {problem}" for v in self.inputs
            if v.validation == "warn" and v.name in values and (problem := v.out_of_range(values[v.name]))
        ]

    def check_outputs(self, outputs: Any) -> dict[str, Any]:
        if not isinstance(outputs, Mapping):
            raise InvalidOutput(self.name, f"the flow must return a dict of outputs, got {type(outputs).__name__}")
        missing = [v.name for v in self.outputs if v.name not in outputs]
        if missing:
            raise InvalidOutput(self.name, f"declared outputs missing from the returned dict: {', '.join(missing)}")
        return dict(outputs)

    def parameters_schema(self) -> dict[str, Any]:
        """The JSON schema of the flow's parameters, carrying the whole spec under ``x-lume-spec``."""
        return {
            "title": "Parameters",
            "type": "object",
            "properties": {v.name: v.json_schema() for v in self.inputs},
            "required": [v.name for v in self.inputs if v.required],
            "additionalProperties": False,
            "definitions": {},
            SPEC_KEY: self.model_dump(mode="json"),
        }

    @classmethod
    def from_parameters_schema(cls, schema: Optional[Mapping[str, Any]], name: str, version: str) -> ModelSpec:
        """The spec stored in a registered version's schema (or an input-less one if absent)."""
        if schema and SPEC_KEY in schema:
            return cls.model_validate({**schema[SPEC_KEY], "name": name, "version": version})
        return cls(name=name, version=version)

    def units(self) -> dict[str, str]:
        """The units of the inputs and outputs that have them, by result column (``inputs.x``, ``outputs.y``)."""
        return {f"{kind}.{v.name}": v.units for kind, variables in (("inputs", self.inputs), ("outputs", self.outputs)) for v in variables if v.units}

    def registry_metadata(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("author", "laboratory", "facility", "beampath", "description")} | {"tags": self.tags}

    def flow(self, fn: Any = None, /, **flow_options: Any) -> Any:
        """Decorate a function (inputs as keyword arguments, returns a dict of outputs) into the model's flow."""
        from lume_prefect.models.plain import PlainModel, loading_plain

        if loading_plain():  # a scan's worker process: the function, not the flow (nor Prefect)
            make: Any = lambda f: PlainModel(self, f)  # noqa: E731
        else:
            from lume_prefect.models.flows import model_flow

            make = lambda f: model_flow(self, f, **flow_options)  # noqa: E731
        return make if fn is None else make(fn)
