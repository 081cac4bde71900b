"""The entrypoint of a registered LUME model: ``lume_prefect.lume.entry:lume_<token>``.

A LUME model (a lume-torch YAML, or a ``LUMEModel``/``LUMETorch`` at ``module.py:name``)
is not a flow and carries no name or version. Registered, it is given an entrypoint of this
module whose attribute name encodes the model's file, name, version and how it is called;
the attribute is the model's flow (or, where a worker loads it, its ``PlainModel``), built
from the files of the source being loaded (``models.plain.loading_source``: the registered
source, or the working directory where Prefect runs a deployment). So every path that loads
an ordinary model (``load_model_flow``, ``load_model_function``, Prefect's workers) loads a
LUME model unchanged.
"""

from __future__ import annotations

import base64
import errno
import json
import os
import threading
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Optional

if TYPE_CHECKING:
    from lume_prefect.models.contract import ModelSpec

PREFIX = "lume_"
MODULE = __name__


@dataclass(frozen=True)
class LumeEntry:
    """What a LUME model's entrypoint says: where its model is and how it is called."""

    model: str  # ``module.py:name`` (an instance or a zero-argument factory) or ``model.yml``
    name: str
    version: str
    stateless: bool = False  # a LUMEModel whose outputs depend only on the inputs set: no reset
    vectorized: bool = False  # called once per batch with sequences of N values

    @property
    def entrypoint(self) -> str:
        data = json.dumps(asdict(self), separators=(",", ":"), sort_keys=True).encode()
        return f"{MODULE}:{PREFIX}{base64.b32encode(data).decode().rstrip('=').lower()}"

    @classmethod
    def parse(cls, entrypoint: str) -> LumeEntry:
        token = entrypoint.rpartition(":")[2] if ":" in entrypoint else entrypoint
        if not token.startswith(PREFIX):
            raise ValueError(f"{entrypoint!r} is not the entrypoint of a registered LUME model")
        text = token[len(PREFIX):].upper()
        return cls(**json.loads(base64.b32decode(text + "=" * (-len(text) % 8))))


_models: dict[tuple[str, str], Any] = {}
_lock = threading.Lock()


def lume_instance(model: str, source: str) -> Any:
    """The LUME model at ``model`` of ``source``, built once per process (a factory is called once)."""
    key = (os.path.abspath(source), model)
    with _lock:
        if key not in _models:
            _models[key] = _build(model, key[0])
        return _models[key]


def _build(model: str, source: str) -> Any:
    from lume_prefect.lume.spec import is_lume_model
    from lume_prefect.models.plain import import_entrypoint

    if model.endswith((".yml", ".yaml")):
        from lume_torch.models import model_from_yaml

        path = os.path.realpath(os.path.join(source, model))
        if os.path.commonpath([path, os.path.realpath(source)]) != os.path.realpath(source):
            raise ValueError(f"LUME model {model!r} is outside its source {source!r}")
        if not os.path.isfile(path):
            raise FileNotFoundError(errno.ENOENT, f"LUME model {model!r}: no file {path!r}", path)
        return model_from_yaml(path)  # its class from the YAML; .pt files relative to the YAML
    built = import_entrypoint(model, source)
    if not is_lume_model(built) and callable(built):
        built = built()
    if not is_lume_model(built):
        raise TypeError(f"{model} in {source} is {type(built).__name__}, not a LUMEModel or LUMETorch instance or a function returning one")
    return built


def __getattr__(attribute: str) -> Any:
    if not attribute.startswith(PREFIX):
        raise AttributeError(f"module {__name__!r} has no attribute {attribute!r}")
    from lume_prefect.lume.evaluate import model_function
    from lume_prefect.lume.spec import spec_from_model
    from lume_prefect.models.plain import loading_source

    entry = LumeEntry.parse(attribute)
    source = loading_source()
    model = lume_instance(entry.model, source)
    spec = spec_from_model(model, entry.name, entry.version, vectorized=entry.vectorized)
    return spec.flow(model_function(model, spec, stateless=entry.stateless))


METADATA_DEFAULT = "unspecified"  # laboratory, facility, beampath a LUME model does not carry


def lume_registration(
    model: str,
    source: str,
    *,
    name: str,
    version: str,
    stateless: Optional[bool] = None,
    vectorized: Optional[bool] = None,
    author: Optional[str] = None,
    laboratory: Optional[str] = None,
    facility: Optional[str] = None,
    beampath: Optional[str] = None,
    description: Optional[str] = None,
    tags: Optional[dict[str, str]] = None,
) -> tuple[str, ModelSpec]:
    """(the registry entrypoint, the spec) of the LUME model at ``model`` of ``source``.

    ``vectorized`` defaults to what the model can do: a LUMETorch and a lume-cheetah model
    take batches, another LUMEModel is called point by point. ``stateless`` (LUMEModel only)
    skips the ``reset()`` before each point. Metadata not given: the OS user as author,
    ``unspecified`` for laboratory, facility and beampath.
    """
    import getpass

    from lume_prefect.lume.spec import is_batched_simulator, is_torch_model, spec_from_model

    instance = lume_instance(model, source)
    torch_model = is_torch_model(instance)
    if torch_model and stateless:
        raise ValueError(f"stateless=True: {model} is a LUMETorch, evaluated without state (stateless applies to a LUMEModel)")
    if vectorized is None:
        vectorized = torch_model or is_batched_simulator(instance)
    entry = LumeEntry(model=model, name=name, version=version, stateless=bool(stateless), vectorized=vectorized)
    spec = spec_from_model(
        instance, name, version, vectorized=vectorized, description=description,
        author=author or getpass.getuser(), laboratory=laboratory or METADATA_DEFAULT,
        facility=facility or METADATA_DEFAULT, beampath=beampath or METADATA_DEFAULT, tags=tags or {},
    )
    return entry.entrypoint, spec
