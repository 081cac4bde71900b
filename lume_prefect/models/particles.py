"""ParticleGroup inputs where only JSON travels: the parameters of a deployment's flow run.

A flow run's parameters are JSON, so a ParticleGroup input of a run on a worker (``run_model``
of a deployed version, ``run_scan(executor="deployment")``) travels as the FileRef of the
openPMD HDF5 file the ``openpmd`` serializer writes through the services' file block, at
``lume-inputs/particles/<content key>.h5``: equal particles are one file, whatever object or
scan point they came from, and the parameters stay small (a beam of a million particles is
tens of MB, too much for a flow run's parameters in Prefect's database).

Where the run starts, the model's flow reads the file back (``read_particle_refs``) before it
checks its inputs, so its Result is keyed by the particles' content, as in-process, and stores
the particles themselves: the caller finds it under the key it computed. A FileRef of an
openPMD file that a user passes as a particles input, in-process or to a worker, is read the
same way: the key never depends on where a file was written.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Optional

from lume_prefect.files.fileref import FileRef
from lume_prefect.files.serializers import is_particle_group

if TYPE_CHECKING:
    from lume_prefect.models.contract import ModelSpec

INPUTS_FOLDER = "lume-inputs/particles"
_REF_FIELDS = frozenset(FileRef.model_fields)
# What the Prefect run form says of a particles input (after the variable's own description)
FORM_DESCRIPTION = (
    "The FileRef of an openPMD particles file (HDF5) written through the services' file block, "
    "the file service (`lume-prefect files put BLOCK beam.h5 beams/beam.h5` prints one): its path, "
    "serializer (openpmd), SHA-256 and size."
)


def fileref_schema() -> dict[str, Any]:
    """The JSON schema of a particles input's value where only JSON travels (a deployment's
    parameters): a FileRef object, its fields titled and described as the FileRef model does,
    inlined (no ``$ref``) so the Prefect run form renders its fields and the server validates
    a run's parameters against it without resolving definitions."""
    schema = FileRef.model_json_schema()
    return {"type": "object", "properties": schema["properties"], "required": schema["required"], "additionalProperties": False}


def particle_inputs(spec: ModelSpec) -> list[str]:
    """The names of the spec's particles inputs."""
    return [v.name for v in spec.inputs if v.type == "particles"]


def as_ref(value: Any) -> Optional[FileRef]:
    """``value`` as a FileRef if it is one or its JSON form (a dict of a FileRef's fields), else None."""
    if isinstance(value, FileRef):
        return value
    if isinstance(value, Mapping) and {"path", "serializer", "sha256", "size"} <= value.keys() <= _REF_FIELDS:
        try:
            return FileRef.model_validate(dict(value))
        except ValueError:
            return None
    return None


def read_particle_refs(spec: ModelSpec, given: Optional[Mapping[str, Any]], files: Any = None,
                       memo: Optional[dict[tuple[Optional[str], str, str], Any]] = None) -> Any:
    """``given`` with each particles input that is a FileRef (or its JSON form) read as the
    ParticleGroup it holds (``given`` itself when there is none).

    Read through ``files`` (default: the current services' file block) when the FileRef names
    no block or that one, else through the saved block it names; its SHA-256 is checked
    (ChecksumMismatch for a file changed since it was written). ``memo`` (by block, path and
    SHA-256): a file that many points of a batch share is read once."""
    if not isinstance(given, Mapping):
        return given
    refs = {name: ref for name in particle_inputs(spec) if name in given and (ref := as_ref(given[name])) is not None}
    if not refs:
        return given
    from lume_prefect.core.resolve import resolve
    from lume_prefect.files.blocks import block_of

    files = files if files is not None else resolve(None, "files")
    own = files._ref_name()
    memo = {} if memo is None else memo
    read = dict(given)
    for name, ref in refs.items():
        seen = (ref.block, ref.path, ref.sha256)
        if seen not in memo:
            block = files if ref.block is None or ref.block == own else block_of(ref)
            memo[seen] = block.read_ref(ref, _sync=True)
        read[name] = memo[seen]
        if not is_particle_group(read[name]):
            from lume_prefect.models.errors import InvalidInput

            raise InvalidInput(spec.name, name, f"= FileRef {ref.path!r} holds {type(read[name]).__name__} "
                                                f"(serializer {ref.serializer!r}), not openPMD particles")
    return read


def particle_refs(values: Mapping[str, Any], files: Any, memo: Optional[dict[int, dict[str, Any]]] = None) -> dict[str, Any]:
    """``values`` with each ParticleGroup written through ``files`` and replaced by the JSON
    form of its FileRef (``memo``, by object: a group shared by many points is written once)."""
    from lume_prefect.results.codec import value_key

    memo = {} if memo is None else memo
    out = dict(values)
    for name, value in values.items():
        if not is_particle_group(value):
            continue
        if id(value) not in memo:
            ref = files.write(f"{INPUTS_FOLDER}/{value_key(value)}.h5", value, serializer="openpmd", _sync=True)
            memo[id(value)] = ref.model_dump(mode="json")
        out[name] = memo[id(value)]
    return out
