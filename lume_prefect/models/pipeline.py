"""Pipelines (flows of flows): model runs where named outputs of one feed inputs of the next.

A pipeline is declared in Python or YAML::

    name: beam-chain
    version: 1.0.0
    inputs:
      - {name: sigma_x, default: 0.001, range: [1.0e-6, 0.1], units: m}
    steps:
      - name: first
        model: toy-beam
        inputs: {sigma_x: "=inputs.sigma_x", drift_m: 1.0}
      - name: second
        model: toy-beam
        version: 1.0.0            # optional; default: the live version at run time
        inputs: {sigma_x: "=first.rms_x"}
    outputs:
      final_rms_x: "=second.rms_x"

A value starting with ``=`` is a reference: ``=inputs.NAME`` (a pipeline input) or
``=STEP.OUTPUT`` (an output of an earlier step; a file output passes its FileRef). Before
anything runs, every model, version, input and output named is checked against the
registry; an unknown one is a PipelineError naming it. Steps run as subflows of one
``lume-pipeline`` flow: in-process model flows, or deployments on workers. A pipeline is
registered like a model (``register_pipeline``), versioned, and run by ``run_model``, which
loads ``pipeline_flow`` by its registered entrypoint like any model flow. The definitions
(``Pipeline``, ``PipelineStep``) are in ``pipeline_spec``; this module runs and registers them.
"""

from __future__ import annotations

from typing import Any, Optional

from prefect import flow

from lume_prefect.core.resolve import resolve
from lume_prefect.models.cancellation import cancelled_not_crashed
from lume_prefect.models.deploy import register_spec
from lume_prefect.models.pipeline_spec import (
    PIPELINE_ENTRYPOINT,
    PIPELINE_KEY,
    PIPELINE_SOURCE,
    Pipeline,
    PipelineStep,
    resolve_reference,
)
from lume_prefect.models.run import run_model

__all__ = ["PIPELINE_ENTRYPOINT", "PIPELINE_KEY", "PIPELINE_SOURCE", "Pipeline", "PipelineStep", "pipeline_flow", "register_pipeline"]


@flow(name="lume-pipeline", log_prints=True, on_crashed=[cancelled_not_crashed])  # cancelled, not crashed: models.cancellation
def pipeline_flow(pipeline: dict[str, Any], inputs: Optional[dict[str, Any]] = None, services: Optional[str] = None, mode: Optional[str] = None) -> dict[str, Any]:
    """Run a pipeline's steps in order as subflows; returns the pipeline's outputs (and each step's)."""
    chain = Pipeline.model_validate(pipeline)
    env = resolve(services, "services")
    chain.validate_against(env.registry)
    values = chain.spec().validate_inputs(inputs)
    step_outputs: dict[str, dict[str, Any]] = {}
    for step in chain.steps:
        step_inputs = {k: resolve_reference(v, values, step_outputs) for k, v in step.inputs.items()}
        run = run_model(step.model, step_inputs, step.version, services=env, mode=mode)  # type: ignore[arg-type]
        step_outputs[step.name] = run.outputs
        print(f"step {step.name}: {step.model} {run.version} -> {sorted(run.outputs)}{' (cache hit)' if run.cached else ''}")
    outputs = {name: resolve_reference(ref, values, step_outputs) for name, ref in chain.outputs.items()}
    return {"outputs": outputs, "steps": step_outputs, "inputs": values}


def register_pipeline(pipeline: Pipeline, services: Any = None) -> bool:
    """Register the pipeline in the registry like a model version (validated first); False if already there unchanged."""
    import hashlib
    import json

    env = resolve(services, "services")
    pipeline.validate_against(env.registry)
    definition = pipeline.model_dump(mode="json")
    digest = hashlib.sha256(json.dumps(definition, sort_keys=True).encode()).hexdigest()
    first_model = env.registry.get_model(pipeline.steps[0].model, _sync=True)
    return register_spec(
        env, pipeline.spec(first_model), source=f"{PIPELINE_SOURCE}:{digest}", entrypoint=PIPELINE_ENTRYPOINT,
        schema_extra={PIPELINE_KEY: definition},
    )
