"""Prefect tasks of the file service: ``save_file`` and ``load_file``.

They take a file block, the name of a saved one (so that a flow's parameters stay plain
strings), or None for the current services' files. Neither is cached: a file may change between runs, and a write is a side effect.
"""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from lume_prefect.core.resolve import resolve
from lume_prefect.files.blocks import FileBlock, read_ref
from lume_prefect.files.fileref import FileRef

def resolve_file_block(block: FileBlock | str | None = None) -> FileBlock:
    """A file block, the saved one named ``type-slug/name`` or ``name``, or (None) the current
    services' file block (see ``lume_prefect.core.resolve``)."""
    return resolve(block, "files")


@task(name="save-file", cache_policy=NO_CACHE, task_run_name="save {path}")
def save_file(block: FileBlock | str | None, path: str, obj: Any, serializer: str | None = None) -> FileRef:
    """Write ``obj`` to ``path`` through a file block and return the FileRef."""
    return resolve_file_block(block).write(path, obj, serializer, _sync=True)


def _load_run_name() -> str:
    from prefect.runtime import task_run

    path = task_run.parameters.get("path")
    return f"load {path.path if isinstance(path, FileRef) else path}"


@task(name="load-file", cache_policy=NO_CACHE, task_run_name=_load_run_name)
def load_file(block: FileBlock | str | None = None, path: str | FileRef | None = None, serializer: str | None = None) -> Any:
    """Read the object at ``path`` through a file block (None: the current services'); ``path``
    may be a FileRef, read through the block it names unless ``block`` is given."""
    if isinstance(path, FileRef):
        return read_ref(path, resolve_file_block(block) if block is not None else None)
    if path is None:
        raise ValueError("load_file needs a path or a FileRef")
    return resolve_file_block(block).read(path, serializer, _sync=True)
