"""The flow of a model: validate inputs, run the author's function, persist the Result.

The same flow runs in-process (called by ``run_model``) and remotely (a deployment on a
worker); either way it stores its Result in the environment's results store, so a
caller finds it by key without caring where it ran.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Callable, Iterator, Optional

from prefect import flow, get_run_logger

from lume_prefect.files.fileref import FileRef

if TYPE_CHECKING:
    from lume_prefect.models.contract import ModelSpec
    from lume_prefect.services import LumeServices

_active_services: contextvars.ContextVar[Optional[LumeServices]] = contextvars.ContextVar("lume_services", default=None)


@contextmanager
def using_services(services: LumeServices) -> Iterator[LumeServices]:
    """Make ``services`` what ``current_services()`` returns in this context (in-process runs)."""
    token = _active_services.set(services)
    try:
        yield services
    finally:
        _active_services.reset(token)


def current_services() -> LumeServices:
    """The services of the running model: set by ``run_model``, else loaded by ``LUME_SERVICES``."""
    services = _active_services.get()
    if services is None:
        from lume_prefect.services import load_services

        services = load_services()
        _active_services.set(services)
    return services


def _split_files(outputs: dict[str, Any]) -> tuple[dict[str, Any], list[FileRef]]:
    files = [v for v in outputs.values() if isinstance(v, FileRef)]
    plain = {k: (v.model_dump(mode="json") if isinstance(v, FileRef) else v) for k, v in outputs.items()}
    return plain, files


def persist(result: Any) -> None:
    """Store ``result`` in the results store chosen by ``LUME_RESULTS_STORE`` or the services."""
    import os

    from lume_prefect.results.tasks import RESULTS_STORE_ENV, resolve_results_store

    store = resolve_results_store() if os.environ.get(RESULTS_STORE_ENV) else current_services().results.store()
    if store is not None:
        store.insert(result, on_duplicate="replace")  # a refreshed run supersedes the stored one


def model_flow(spec: ModelSpec, fn: Callable[..., Any], **flow_options: Any) -> Any:
    """Wrap ``fn`` into the Prefect flow of ``spec``; the flow returns the persisted Result."""
    signature = inspect.signature(fn)
    for variable in spec.inputs:
        if variable.name not in signature.parameters and not any(
            p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.parameters.values()
        ):
            raise TypeError(f"model {spec.name!r}: input {variable.name!r} is not a parameter of {fn.__name__}()")

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        from lume_prefect.results.result import Result

        bound = signature.bind_partial(*args, **kwargs)
        values = spec.validate_inputs(bound.arguments)
        outputs, files = _split_files(spec.check_outputs(fn(**values)))
        result = Result(model=spec.name, version=spec.version, inputs=values, outputs=outputs, files=files)
        persist(result)
        get_run_logger().info("model %s %s stored result %s", spec.name, spec.version, result.key[:12])
        return result

    # Prefect builds the parameter schema from the signature: every input optional, since
    # the spec supplies defaults and validates.
    run.__signature__ = signature.replace(
        parameters=[p.replace(default=None) if p.default is inspect.Parameter.empty else p for p in signature.parameters.values()],
        return_annotation=inspect.Signature.empty,
    )
    options = {"name": spec.name, "version": spec.version, "description": spec.description or None, "log_prints": True}
    model = flow(**(options | flow_options))(run)
    model.lume_spec = spec
    return model
