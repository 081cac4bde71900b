"""Prefect tasks of the file service: ``save_file`` and ``load_file``.

They take a file block, or the name of a saved one, so that a flow's parameters stay
plain strings. Neither is cached: a file may change between runs, and a write is a side effect.
"""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from lume_prefect.files.blocks import FileBlock, LocalFiles, MountedFiles, S3Files
from lume_prefect.files.fileref import FileRef

FILE_BLOCK_TYPES: tuple[type[FileBlock], ...] = (LocalFiles, MountedFiles, S3Files)


def resolve_file_block(block: FileBlock | str) -> FileBlock:
    """A file block, or the saved one named ``type-slug/name`` or just ``name``.

    A bare name is looked up among the lume file block types; it must match exactly one.
    """
    if isinstance(block, FileBlock):
        return block
    if not isinstance(block, str) or not block:
        raise TypeError(f"block must be a file block or a saved block's name, got {block!r}")
    if "/" in block:
        from prefect.blocks.core import Block

        loaded = Block.load(block, _sync=True)
        if not isinstance(loaded, FileBlock):
            raise TypeError(f"block {block!r} is a {type(loaded).__name__}, not a lume file block")
        return loaded
    found = []
    for cls in FILE_BLOCK_TYPES:
        try:
            found.append(cls.load(block, _sync=True))
        except ValueError:
            continue
    if len(found) != 1:
        slugs = ", ".join(cls.get_block_type_slug() for cls in FILE_BLOCK_TYPES)
        what = "no" if not found else "more than one"
        raise ValueError(f"{what} file block named {block!r} among {slugs}; use 'type-slug/{block}'")
    return found[0]


@task(name="save-file", cache_policy=NO_CACHE, task_run_name="save {path}")
def save_file(block: FileBlock | str, path: str, obj: Any, serializer: str | None = None) -> FileRef:
    """Write ``obj`` to ``path`` through a file block and return the FileRef."""
    return resolve_file_block(block).write(path, obj, serializer, _sync=True)


def _load_run_name() -> str:
    from prefect.runtime import task_run

    path = task_run.parameters.get("path")
    return f"load {path.path if isinstance(path, FileRef) else path}"


@task(name="load-file", cache_policy=NO_CACHE, task_run_name=_load_run_name)
def load_file(block: FileBlock | str | None = None, path: str | FileRef | None = None, serializer: str | None = None) -> Any:
    """Read the object at ``path`` through a file block; ``path`` may be a FileRef (then ``block`` is optional)."""
    if isinstance(path, FileRef):
        return path.read(resolve_file_block(block) if block is not None else None)
    if block is None or path is None:
        raise ValueError("load_file needs a block and a path, or a FileRef")
    return resolve_file_block(block).read(path, serializer, _sync=True)
