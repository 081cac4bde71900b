"""A model's plain function, called with its checks, and loaded without Prefect.

``call_model`` is the one path every run takes (a flow run, a scan's batch, ``evaluate``), so
inputs and outputs are checked the same way wherever a model runs. ``load_model_function``
is what a scan's worker process (a process pool, a Dask worker, a Slurm element) loads a
model with: ``ModelSpec.flow`` then keeps the spec and the function without building the
Prefect flow, so the worker imports the model and what it imports, not Prefect (which
costs a fresh process about a second).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import hashlib
import importlib
import importlib.util
import os
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from lume_prefect.files.fileref import FileRef
from lume_prefect.files.serializers import particle_group_class
from lume_prefect.models.errors import FlowNeeded

if TYPE_CHECKING:
    from lume_prefect.models.contract import ModelSpec

_plain = contextvars.ContextVar("lume_plain_models", default=False)
_source = contextvars.ContextVar("lume_model_source", default="")
_functions: dict[tuple[str, str], tuple[Any, Callable[..., Any]]] = {}


def loading_plain() -> bool:
    """Whether ``ModelSpec.flow`` should make a ``PlainModel`` (a worker is loading the model)."""
    return _plain.get()


def loading_source() -> str:
    """The source directory of the model being loaded (its working directory where Prefect
    loads it: a deployment's run starts there), for an entrypoint that builds the model from
    files of its source (``lume_prefect.lume``)."""
    return _source.get() or os.getcwd()


@contextlib.contextmanager
def loading_from(source: str) -> Iterator[None]:
    """Load models from ``source`` (see ``loading_source``) within the block."""
    token = _source.set(source if os.path.isdir(source) else "")
    try:
        yield
    finally:
        _source.reset(token)


class PlainModel:
    """What ``ModelSpec.flow`` makes while ``load_model_function`` loads a model: the spec and
    the author's function, as on the flow (``lume_spec``, ``lume_function``, ``evaluate``)."""

    def __init__(self, spec: ModelSpec, fn: Callable[..., Any]):
        self.lume_spec, self.lume_function = spec, fn
        self.evaluate = functools.partial(evaluate, spec, fn)
        functools.update_wrapper(self, fn)

    def __getattr__(self, name: str) -> Any:  # only for what a PlainModel has not: a flow's attributes
        raise FlowNeeded(self.lume_spec.name, self.lume_spec.version, name)

    def __repr__(self) -> str:
        return f"PlainModel({self.lume_spec.name} {self.lume_spec.version})"


def _file_kinds() -> tuple[type, ...]:
    """The output types that are files: FileRef, and ParticleGroup once openpmd-beamphysics is imported."""
    group = particle_group_class()
    return (FileRef,) if group is None else (FileRef, group)


def _split_files(spec: ModelSpec, values: dict[str, Any], outputs: dict[str, Any],
                 kinds: tuple[type, ...] | None = None) -> tuple[dict[str, Any], list[FileRef]]:
    kinds = kinds or _file_kinds()
    for value in outputs.values():  # most outputs are numbers and arrays: nothing to write or split
        if isinstance(value, kinds):
            break
    else:
        return outputs, []
    group = particle_group_class()
    if group is not None:
        outputs = {k: (_write_particles(spec, values, k, v) if isinstance(v, group) else v) for k, v in outputs.items()}
    files = [v for v in outputs.values() if isinstance(v, FileRef)]
    plain = {k: (v.model_dump(mode="json") if isinstance(v, FileRef) else v) for k, v in outputs.items()}
    return plain, files


def _write_particles(spec: ModelSpec, values: dict[str, Any], name: str, particles: Any) -> FileRef:
    """A ParticleGroup output written through the run's file block (openPMD HDF5), where a
    rerun of the same inputs writes it again: ``<model>/<version>/<result key[:16]>/<output>.h5``."""
    from lume_prefect.core.resolve import resolve
    from lume_prefect.results.codec import result_key

    key = result_key(spec.name, spec.version, values)[:16]
    return resolve(None, "files").write(f"{spec.name}/{spec.version}/{key}/{name}.h5", particles, serializer="openpmd")


def call_model(spec: ModelSpec, fn: Callable[..., Any], values: dict[str, Any]) -> tuple[dict[str, Any], list[FileRef]]:
    """``fn`` on inputs already checked by ``spec``: its outputs, checked, and the files among
    them (ParticleGroups written through the run's file block). A vectorized model is called
    with one point (every input a list of one value)."""
    if spec.vectorized:
        from lume_prefect.models.vectorized import call_points

        return _split_files(spec, values, call_points(spec, fn, [values])[0])
    return _split_files(spec, values, spec.check_outputs(fn(**values)))


def call_model_points(spec: ModelSpec, fn: Callable[..., Any], points: list[dict[str, Any]]) -> list[tuple[dict[str, Any], list[FileRef]]]:
    """A vectorized model called once on ``points``: per point (outputs, files), as ``call_model``."""
    from lume_prefect.models.vectorized import call_points

    outputs = call_points(spec, fn, points)
    split, kinds = _split_files, _file_kinds()  # once per batch, after the call (which may import openpmd-beamphysics)
    return [split(spec, values, point, kinds) for values, point in zip(points, outputs)]


class ModelCall:
    """The checked call of a model's function on one point (``call_model``) and, for a
    vectorized model, on many at once (``many``): what a scan's batch is evaluated with."""

    __slots__ = ("spec", "fn", "vectorized")

    def __init__(self, spec: ModelSpec, fn: Callable[..., Any]):
        self.spec, self.fn, self.vectorized = spec, fn, spec.vectorized

    def __call__(self, values: dict[str, Any]) -> tuple[dict[str, Any], list[FileRef]]:
        return call_model(self.spec, self.fn, values)

    def many(self, points: list[dict[str, Any]]) -> list[tuple[dict[str, Any], list[FileRef]]]:
        return call_model_points(self.spec, self.fn, points)


def evaluate(spec: ModelSpec, fn: Callable[..., Any], /, **inputs: Any) -> dict[str, Any]:
    """The outputs of the model on ``inputs``, validated like a flow run's, without Prefect and
    without storing anything: ``model.evaluate(sigma_x=1e-3)`` on any ``ModelSpec.flow``."""
    outputs, _ = call_model(spec, fn, spec.validate_inputs(inputs))
    return outputs


def plain_function(model: Any) -> tuple[ModelSpec, Callable[..., Any]]:
    """(spec, the author's function) of a model flow made by ``ModelSpec.flow`` (or a PlainModel)."""
    spec, fn = getattr(model, "lume_spec", None), getattr(model, "lume_function", None)
    if spec is None or fn is None:
        raise TypeError(f"{getattr(model, 'name', model)!r} is not a model flow: decorate it with ModelSpec.flow")
    return spec, fn


def load_model_function(entrypoint: str, source: str) -> tuple[ModelSpec, Callable[..., Any]]:
    """(spec, function) of the model at ``entrypoint`` (``path.py:name``, ``module:name``) of a
    local ``source`` directory, imported once per process without building its flow.

    A file is imported under a private module name, as Prefect does, so it never stands for a
    module of the same name. A model module that uses its flow while it is imported (say
    ``model.with_options``) raises FlowNeeded: load it with ``load_model_flow``.
    """
    key = (source, entrypoint)
    if key not in _functions:
        token = _plain.set(True)
        try:
            with loading_from(source):
                _functions[key] = plain_function(import_entrypoint(entrypoint, source))
        finally:
            _plain.reset(token)
    return _functions[key]


def import_entrypoint(entrypoint: str, source: str) -> Any:
    module_name, _, name = entrypoint.rpartition(":") if ":" in entrypoint else entrypoint.rpartition(".")
    if module_name.endswith(".py"):
        path = os.path.join(source, module_name) if os.path.isdir(source) else module_name
        path = os.path.abspath(path)
        folder = os.path.dirname(path)
        spec = importlib.util.spec_from_file_location(f"lume_model_{hashlib.sha1(path.encode()).hexdigest()[:16]}", path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot import {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # what its functions' pickles and dataclasses look up
        sys.path.insert(0, folder)  # the file's siblings, while it is imported (as Prefect does)
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[spec.name]
            raise
        finally:
            sys.path.remove(folder)
    else:
        if os.path.isdir(source) and source not in sys.path:
            sys.path.insert(0, source)
        module = importlib.import_module(module_name)
    model = module
    for part in name.split("."):
        model = getattr(model, part)
    return model
