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
same way: the key never depends on where a file was written. Given to a worker, such a FileRef
travels as it is when its file is in the services' file block (no copy); one of another block
is copied like a ParticleGroup.

The parameter schema of a particles input is a FileRef object (``fileref_schema``): the Prefect
UI's run form shows its fields. The copies (``lume-inputs/particles/``) are never needed once
their runs end (a Result stores its particles themselves): ``prune_transport_inputs`` (``lume-prefect
files prune-inputs``) removes the old ones that no unfinished flow run names.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Optional

from lume_prefect.files.fileref import FileRef
from lume_prefect.files.serializers import is_particle_group

if TYPE_CHECKING:
    from lume_prefect.models.contract import ModelSpec

INPUTS_FOLDER = "lume-inputs/particles"
# a transport copy's name: the value key (SHA-256 hex) of its particles; nothing else in the
# folder is ours to remove
_COPY_NAME = re.compile(r"[0-9a-f]{64}\.h5")
_NAMED_COPY = re.compile(re.escape(INPUTS_FOLDER) + r"/([0-9a-f]{64}\.h5)")
MIN_PRUNE_AGE = timedelta(hours=1)  # younger copies may belong to a run being created
_REF_FIELDS = frozenset(FileRef.model_fields)
_OPTIONAL_REF_FIELDS = frozenset(name for name, field in FileRef.model_fields.items() if not field.is_required())
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
        # an optional field given as "" is absent, not a block named "" (Prefect 3.9's run forms, v1 and
        # v2, send a blank one as null or leave it out: tests/test_ui.py; other clients may send "")
        given = {name: field for name, field in value.items() if not (field == "" and name in _OPTIONAL_REF_FIELDS)}
        try:
            return FileRef.model_validate(given)
        except ValueError:
            return None
    return None


def read_particle_refs(spec: ModelSpec, given: Optional[Mapping[str, Any]], files: Any = None,
                       memo: Optional[dict[tuple[Optional[str], str, str], Any]] = None,
                       origins: Optional[dict[int, dict[str, Any]]] = None) -> Any:
    """``given`` with each particles input that is a FileRef (or its JSON form) read as the
    ParticleGroup it holds (``given`` itself when there is none).

    Read through ``files`` (default: the current services' file block) when the FileRef names
    no block or that one, else through the saved block it names; its SHA-256 is checked
    (ChecksumMismatch for a file changed since it was written). ``memo`` (by block, path and
    SHA-256): a file that many points of a batch share is read once. ``origins`` (by the id of
    each group read): the JSON form of the FileRef of each group read through ``files``, the
    memo ``particle_refs`` takes, so a deployment run is given the user's own file rather than
    a copy of it (the workers read the services' block too); a file in another block is copied."""
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
        if origins is not None and (ref.block is None or ref.block == own):
            # named by its block: a worker whose own services are others still reads this file
            origins[id(read[name])] = ref.model_copy(update={"block": ref.block or own}).model_dump(mode="json")
    return read


def particle_refs(values: Mapping[str, Any], files: Any, memo: Optional[dict[int, dict[str, Any]]] = None) -> dict[str, Any]:
    """``values`` with each ParticleGroup written through ``files`` and replaced by the JSON
    form of its FileRef (``memo``, by object: a group shared by many points is written once;
    a group read from a file of ``files`` is in it already, ``read_particle_refs``'s ``origins``)."""
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


def prune_transport_inputs(older_than: timedelta | float, *, services: Any = None, dry_run: bool = False) -> list[str]:
    """Remove the transport copies of particles inputs (``lume-inputs/particles/<content key>.h5``
    in the services' file block) that no flow run can still need; the paths removed (with
    ``dry_run``: that would be).

    A copy is removed only when all of these hold:

    - its name is a content key (64 hex digits, ``.h5``) directly in ``lume-inputs/particles/``:
      any other file a user put there, and every file elsewhere, is kept;
    - it was last written more than ``older_than`` ago (a timedelta, or a number of days; at
      least an hour): each run that sends the same particles writes the copy again;
    - no flow run that is not final (scheduled, late, pending, running, paused, awaiting a
      retry, cancelling) names it in its parameters, however old the file: such a run (or a
      retry of it) still reads it.

    Nothing is lost: a Result stores its particles themselves, never the copy, and a user's own
    FileRef of a file in the services' block is given to a worker as it is, not copied. A
    completed run re-run from the Prefect UI after its copy was pruned fails with
    FileNotFoundError naming the path; ``run_model`` with the particles writes it again. The
    flow runs are read from the Prefect API; if it cannot be read, nothing is removed.
    """
    from lume_prefect.core.resolve import resolve

    if isinstance(older_than, bool) or not isinstance(older_than, (timedelta, int, float)):
        raise TypeError(f"older_than must be a timedelta or a number of days, got {type(older_than).__name__} {older_than!r}")
    age = older_than if isinstance(older_than, timedelta) else timedelta(days=older_than) if math.isfinite(older_than) else None
    if age is None or age < MIN_PRUNE_AGE:
        raise ValueError(f"older_than must be at least an hour (a copy younger than that may belong to a run being created), got {older_than!r}")
    files = resolve(services, "services").files._rooted()
    cutoff = time.time() - age.total_seconds()
    old = {path: when for path, when in files.modified_times(INPUTS_FOLDER).items()
           if when < cutoff and _COPY_NAME.fullmatch(path.removeprefix(INPUTS_FOLDER + "/"))}
    if not old:
        return []
    needed = _copies_named_by_unfinished_runs()  # after the listing: a run created since wrote its copy anew
    removed = []
    for path in sorted(old):
        if path.removeprefix(INPUTS_FOLDER + "/") in needed:
            continue
        try:
            if files.modified(path) >= cutoff:  # written again since the listing: a new run's
                continue
            if not dry_run:
                files.delete(path)
        except FileNotFoundError:  # removed meanwhile (another prune)
            continue
        removed.append(path)
    return removed


def _copies_named_by_unfinished_runs() -> set[str]:
    """The names of the transport copies that the parameters of flow runs not yet final name."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterState, FlowRunFilterStateType
    from prefect.client.schemas.objects import StateType
    from prefect.client.schemas.sorting import FlowRunSort

    final = [StateType.COMPLETED, StateType.FAILED, StateType.CANCELLED, StateType.CRASHED]
    unfinished = FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(not_any_=final)))
    names: set[str] = set()
    page = 200
    try:
        with get_client(sync_client=True) as client:
            offset = 0
            while True:
                runs = client.read_flow_runs(flow_run_filter=unfinished, sort=FlowRunSort.ID_DESC, limit=page, offset=offset)
                for run in runs:
                    names.update(_NAMED_COPY.findall(json.dumps(run.parameters, default=str)))
                if len(runs) < page:
                    return names
                offset += page - 1  # overlap: a run ending meanwhile shifts the pages by one
    except Exception as exc:  # noqa: BLE001 - whatever the API's client raises: remove nothing
        raise ConnectionError(f"cannot read the unfinished flow runs from the Prefect API ({type(exc).__name__}: {exc}): "
                              "no transport copy removed, since one of them may still need it") from exc
