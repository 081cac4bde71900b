"""The flow of a model: validate inputs, run the author's function, persist the Result.

The same flow runs in-process (called by ``run_model``) and remotely (a deployment on a
worker); either way it stores its Result in the environment's results store, so a
caller finds it by key without caring where it ran.
"""

from __future__ import annotations

import functools
import inspect
import keyword
from typing import TYPE_CHECKING, Annotated, Any, Callable, Optional

from prefect import flow, get_run_logger
from pydantic import Field, WithJsonSchema
from pydantic.fields import FieldInfo
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import PydanticUndefined

from lume_prefect.core.resolve import current_services, using_services
from lume_prefect.models.cancellation import cancelled_not_crashed
from lume_prefect.models.particles import fileref_schema, particle_inputs, read_particle_refs
from lume_prefect.models.plain import call_model, evaluate, plain_function
from lume_prefect.results.artifacts import publish_result

if TYPE_CHECKING:
    from lume_prefect.models.contract import ModelSpec, Variable

__all__ = ["call_model", "current_services", "evaluate", "input_parameter", "model_flow", "persist", "plain_function", "using_services"]


# A flow run tagged so (run_model(..., refresh=True)) replaces the stored result of its key.
REFRESH_TAG = "lume:refresh"


def persist(result: Any) -> Any:
    """Store ``result`` in the results store of ``resolve_results_store()`` (``LUME_RESULTS_STORE``
    if set, else the current services'); the Result now stored under its key.

    The first store of a key wins: a re-run of the same inputs (from the UI, a schedule, a
    retry) recomputes but keeps the stored row, its ``created`` and ``flow_run_id``, and
    says so in its log. Only a refresh (a flow run tagged ``lume:refresh``, which
    ``run_model(..., refresh=True)`` makes) replaces it.
    """
    from prefect.context import FlowRunContext

    from lume_prefect.results.tasks import resolve_results_store

    store = resolve_results_store()
    if store is None:
        return result
    context = FlowRunContext.get()
    if context is not None and context.flow_run is not None and REFRESH_TAG in context.flow_run.tags:
        store.insert(result, on_duplicate="replace")
        return result
    store.insert(result, on_duplicate="skip")
    stored = store.get(result.key)
    if stored is not None and stored.flow_run_id != result.flow_run_id:
        get_run_logger().info(
            "result %s was already stored by flow run %s at %s: kept (the first store wins; run with refresh to replace it)",
            result.key[:12], stored.flow_run_id, stored.created.isoformat(timespec="seconds"),
        )
        return stored
    return result


_PYTHON_TYPES: dict[str, Any] = {
    "float": float, "int": int, "bool": bool, "str": str, "array": list, "dict": dict, "file": dict,
    "particles": Any, "distribution": Any, "any": Any,
}


def input_parameter(variable: Variable) -> inspect.Parameter:
    """The flow parameter of an input: its type, range and choices, default, description and units.

    Prefect computes a flow's parameter schema from its signature (``parameter_schema``), for
    ``to_deployment`` as for ``prefect deploy``: the range is ``Field(ge=, le=)`` metadata of
    the annotation; the description (with units and range written out, since the run form shows
    only the description) and ``x-units`` are on a ``Field`` default, the form Prefect reads
    them from. A required input gets a ``Field`` without default: required in
    the schema, yet a call without it still binds and is refused by the spec (InvalidInput).
    """
    metadata: dict[str, Any] = {}
    strict = variable.validation == "error"  # else a value outside the range still runs
    if variable.range is not None and strict:
        metadata["ge"], metadata["le"] = variable.range
    if variable.choices is not None and strict:
        metadata["json_schema_extra"] = {"enum": list(variable.choices)}
    base = _PYTHON_TYPES[variable.type]
    if variable.type == "particles":  # a deployment run's particles: the FileRef of their file, a form in the UI
        base = Annotated[Any, WithJsonSchema(fileref_schema())]
    annotation = Annotated[base, Field(**metadata)] if metadata else base
    documentation: dict[str, Any] = {"description": variable.form_description() or None}
    extra = {"x-units": variable.units, "x-shape": variable.shape and list(variable.shape), "x-dtype": variable.dtype}
    if any(extra.values()):
        documentation["json_schema_extra"] = {k: v for k, v in extra.items() if v}
    default = Field(**documentation) if variable.required else Field(default=variable.default, **documentation)
    return inspect.Parameter(variable.name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=default, annotation=annotation)


_OTHER_INPUTS = "lume_other_inputs"  # pydantic (the schema) refuses a leading underscore
# A deployment run of a scan's batch (run_scan executor="deployment"). A parameter of the flow
# (a deployment run's parameters must bind to the signature) left out of its parameter schema
# (SkipJsonSchema): the run form and every deployment's parameter_openapi_schema show only the
# model's inputs. The server still takes it: the schema does not forbid other properties.
SCAN_BATCH = "lume_scan_batch"


def _is_parameter_name(name: str) -> bool:
    return name.isidentifier() and not keyword.iskeyword(name)


def deployment_parameters(values: dict[str, Any]) -> dict[str, Any]:
    """A deployment run's parameters for ``values``: Prefect binds them by name, so inputs that
    cannot be Python parameters (``QUAD:IN20:425:BCTRL``) travel in ``lume_other_inputs``."""
    named = {k: v for k, v in values.items() if _is_parameter_name(k)}
    others = {k: v for k, v in values.items() if not _is_parameter_name(k)}
    return named | ({_OTHER_INPUTS: others} if others else {})


def flow_signature(spec: ModelSpec) -> inspect.Signature:
    """The signature of the model's flow: one parameter per input, in the spec's order.

    An input named like ``QUAD:IN20:425:BACT`` cannot be a Python parameter: such inputs are
    taken by keyword through a final ``**lume_other_inputs`` (and are not in the schema).
    The last named parameter, ``lume_scan_batch`` (a batch of scan points to run instead of
    one, set by ``run_scan(executor="deployment")``), is not in the schema either.
    """
    parameters = [input_parameter(v) for v in spec.inputs if _is_parameter_name(v.name)]
    parameters.append(inspect.Parameter(
        SCAN_BATCH, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=SkipJsonSchema[Optional[dict]], default=None,
    ))
    if len(parameters) - 1 < len(spec.inputs):
        parameters.append(inspect.Parameter(_OTHER_INPUTS, inspect.Parameter.VAR_KEYWORD))
    return inspect.Signature(parameters)


def model_flow(spec: ModelSpec, fn: Callable[..., Any], **flow_options: Any) -> Any:
    """Wrap ``fn`` into the Prefect flow of ``spec``; the flow returns the persisted Result.

    The flow's signature is built from the spec (``flow_signature``), so the parameter
    schema Prefect derives from it carries the inputs' defaults, ranges, choices, units and
    descriptions wherever the flow is deployed from. Prefect's own parameter validation is
    off by default (``validate_parameters=False``): the spec validates every call, and an
    unknown, missing, mistyped or out-of-range input is an InvalidInput naming the variable.
    """
    fn_parameters = inspect.signature(fn).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in fn_parameters.values())
    for variable in spec.inputs:
        if variable.name not in fn_parameters and not takes_any:
            raise TypeError(f"model {spec.name!r}: input {variable.name!r} is not a parameter of {fn.__name__}()")
    inputs = {v.name for v in spec.inputs}
    for parameter in fn_parameters.values():
        if parameter.name not in inputs and parameter.default is inspect.Parameter.empty and parameter.kind not in (
            inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD
        ):
            raise TypeError(f"model {spec.name!r}: parameter {parameter.name!r} of {fn.__name__}() is not an input of the model: declare it, or give it a default")
    signature = flow_signature(spec)
    particles = particle_inputs(spec)

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        from lume_prefect.results.result import Result

        bound = signature.bind_partial(*args, **kwargs)
        batch = bound.arguments.pop(SCAN_BATCH, None)
        if isinstance(batch, dict):
            from lume_prefect.models.batch import run_batch_here

            from lume_prefect.models.plain import ModelCall

            return run_batch_here(spec, ModelCall(spec, fn), batch)
        given = dict(bound.arguments.pop(_OTHER_INPUTS, {}))
        if isinstance(given.get(_OTHER_INPUTS), dict):  # a deployment run's (deployment_parameters)
            given.update(given.pop(_OTHER_INPUTS))
        # Prefect fills an omitted required input with its Field's (undefined) default
        given.update({k: v for k, v in bound.arguments.items() if v is not PydanticUndefined and not isinstance(v, FieldInfo)})
        if particles:  # a deployment run's particles come as the FileRefs of their files (models.particles)
            given = read_particle_refs(spec, given)
        values = spec.validate_inputs(given)
        warnings = spec.input_warnings(values)
        for warning in warnings:
            get_run_logger().warning("model %s %s: %s (the model's validation is warn: it runs)", spec.name, spec.version, warning)
        outputs, files = call_model(spec, fn, values)
        result = Result(model=spec.name, version=spec.version, inputs=values, outputs=outputs, files=files, warnings=warnings)
        result = persist(result)
        get_run_logger().info("model %s %s stored result %s", spec.name, spec.version, result.key[:12])
        try:
            publish_result(result, {v.name: v.units for v in spec.outputs})
        except Exception as exc:  # noqa: BLE001 - the result is stored: a page that misses its table must not fail the run
            get_run_logger().warning("could not put the outputs of result %s on the run page: %s", result.key[:12], exc)
        return result

    run.__signature__ = signature  # what Prefect binds calls to and builds the parameter schema from
    run.__annotations__ = {name: p.annotation for name, p in signature.parameters.items() if p.annotation is not p.empty}
    options = {
        "name": spec.name, "version": spec.version, "description": spec.description or None, "log_prints": True,
        "validate_parameters": False,
    }
    # a cancel that Prefect's runner ends with a bare SIGTERM is recorded Cancelled, not Crashed
    on_crashed = [cancelled_not_crashed, *(flow_options.pop("on_crashed", None) or [])]
    model = flow(**(options | flow_options), on_crashed=on_crashed)(run)
    model.lume_spec = spec
    model.lume_function = fn  # the author's plain function: batches, tests, users call it without Prefect
    model.evaluate = functools.partial(evaluate, spec, fn)
    return model
