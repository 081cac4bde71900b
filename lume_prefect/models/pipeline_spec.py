"""Pipeline definitions (a chain of model runs), checked against the registry; no execution
here (``lume_prefect.models.pipeline`` runs and registers them). See that module for the YAML form.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator

from lume_prefect.core.names import MODEL_NAME_PATTERN, MODEL_NAME_RULE
from lume_prefect.models.contract import ModelSpec, Variable
from lume_prefect.models.errors import PipelineError

PIPELINE_KEY = "x-lume-pipeline"
PIPELINE_ENTRYPOINT = "lume_prefect.models.pipeline:pipeline_flow"
PIPELINE_SOURCE = "lume-prefect:pipeline"


class PipelineStep(BaseModel):
    """One model run of a pipeline."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, pattern=r"^[A-Za-z_][A-Za-z0-9_-]*$", description="Step name, used in references.")
    model: str = Field(min_length=1, description="Registered model to run.")
    version: Optional[str] = Field(default=None, description="Model version; default: the live version at run time.")
    inputs: dict[str, Any] = Field(default_factory=dict, description="Input values or references (=inputs.X, =step.Y).")


def _reference(value: Any) -> Optional[tuple[str, str]]:
    if isinstance(value, str) and value.startswith("="):
        source, dot, name = value[1:].partition(".")
        if not dot or not source or not name:
            raise PipelineError(f"reference {value!r} must read '=inputs.NAME' or '=STEP.OUTPUT'")
        return source, name
    return None


class Pipeline(BaseModel):
    """A versioned chain of model runs; see the module documentation for the YAML form."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=MODEL_NAME_PATTERN, description="Pipeline name (registered like a model): " + MODEL_NAME_RULE[4:] + ".")
    version: str = Field(min_length=1, description="PEP 440 version of the pipeline.")
    description: str = Field(default="", description="What the pipeline computes.")
    inputs: list[Variable] = Field(default_factory=list, description="The pipeline's own inputs.")
    steps: list[PipelineStep] = Field(min_length=1, description="Model runs, in order.")
    outputs: dict[str, str] = Field(default_factory=dict, description="Pipeline outputs as references to step outputs.")
    author: str = Field(default="", description="Maintainer; default: the first step's model's.")
    laboratory: str = Field(default="", description="Laboratory; default: the first step's model's.")
    facility: str = Field(default="", description="Facility; default: the first step's model's.")
    beampath: str = Field(default="", description="Beam path; default: the first step's model's.")

    @field_validator("steps")
    @classmethod
    def _unique_steps(cls, steps: list[PipelineStep]) -> list[PipelineStep]:
        names = [s.name for s in steps]
        for name in names:
            if name == "inputs":
                raise ValueError("a step may not be called 'inputs' (reserved for pipeline inputs)")
            if names.count(name) > 1:
                raise ValueError(f"step {name!r} is declared twice")
        return steps

    @classmethod
    def from_yaml(cls, text_or_path: str | Path) -> Pipeline:
        import yaml

        is_path = isinstance(text_or_path, Path) or str(text_or_path).endswith((".yaml", ".yml"))
        text = Path(text_or_path).read_text() if is_path else str(text_or_path)
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise PipelineError(f"{text_or_path if is_path else 'pipeline text'} is not valid YAML: {exc}") from None
        return cls.model_validate(data)

    def spec(self, defaults: Optional[Any] = None) -> ModelSpec:
        """The pipeline seen as a model: its inputs and outputs; metadata missing here comes from ``defaults``."""
        metadata = {k: getattr(self, k) or getattr(defaults, k, "") for k in ("author", "laboratory", "facility", "beampath")}
        return ModelSpec(
            name=self.name, version=self.version, description=self.description, inputs=self.inputs,
            outputs=[Variable(name=n, type="any") for n in self.outputs], **metadata,
        )

    def validate_against(self, registry: Any) -> dict[str, ModelSpec]:
        """Check every model, version, input and reference; returns each step's model spec."""
        from lume_prefect.registry.errors import RegistryError

        specs: dict[str, ModelSpec] = {}
        pipeline_inputs = {v.name for v in self.inputs}
        for step in self.steps:
            try:
                registered = (
                    registry.get_version(step.model, step.version, _sync=True) if step.version else registry.live_version(step.model, _sync=True)
                )
            except RegistryError as exc:
                raise PipelineError(f"pipeline {self.name!r} step {step.name!r}: {exc}") from None
            spec = ModelSpec.from_parameters_schema(registered.parameters_schema, step.model, registered.version)
            known_inputs = {v.name for v in spec.inputs}
            for input_name, value in step.inputs.items():
                if input_name not in known_inputs:
                    raise PipelineError(
                        f"pipeline {self.name!r} step {step.name!r}: model {step.model!r} has no input {input_name!r}; "
                        f"inputs: {', '.join(sorted(known_inputs))}"
                    )
                self._check_reference(value, f"step {step.name!r} input {input_name!r}", specs, pipeline_inputs)
            specs[step.name] = spec
        for output_name, value in self.outputs.items():
            if _reference(value) is None:
                raise PipelineError(f"pipeline {self.name!r} output {output_name!r} must be a reference '=STEP.OUTPUT', got {value!r}")
            self._check_reference(value, f"output {output_name!r}", specs, pipeline_inputs)
        return specs

    def _check_reference(self, value: Any, where: str, specs: dict[str, ModelSpec], pipeline_inputs: set[str]) -> None:
        ref = _reference(value)
        if ref is None:
            return
        source, name = ref
        if source == "inputs":
            if name not in pipeline_inputs:
                raise PipelineError(f"pipeline {self.name!r} {where}: no pipeline input {name!r}")
            return
        if source not in specs:
            raise PipelineError(f"pipeline {self.name!r} {where}: {value!r} names no earlier step {source!r}")
        outputs = {v.name for v in specs[source].outputs}
        if name not in outputs:
            raise PipelineError(
                f"pipeline {self.name!r} {where}: step {source!r} (model {specs[source].name!r}) has no output {name!r}; "
                f"outputs: {', '.join(sorted(outputs))}"
            )


def resolve_reference(value: Any, inputs: dict[str, Any], step_outputs: dict[str, dict[str, Any]]) -> Any:
    """``value``, or (a reference) the pipeline input or earlier step output it names."""
    ref = _reference(value)
    if ref is None:
        return value
    source, name = ref
    return inputs[name] if source == "inputs" else step_outputs[source][name]
