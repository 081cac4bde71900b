"""``lume-prefect files``: look at and move files through a saved file block."""

from __future__ import annotations

from typing import Annotated

from cyclopts import App, Parameter

from lume_prefect.cli.options import Json, Services
from lume_prefect.cli.output import console, fail, print_json, print_table

app = App(name="files", help="List, copy and delete files through a saved file block (name or type-slug/name).")


BlockName = Annotated[str, Parameter(help="Saved file block: its name, or type-slug/name (e.g. lume-local-files/data).")]


def _block(name: str):  # type: ignore[no-untyped-def]
    """The files of the saved block ``name`` and their settings (``stores.Found``), built without
    Prefect where they can be."""
    from lume_prefect.stores import find

    try:
        return find("files", name)
    except (ValueError, TypeError) as exc:
        fail(exc)


@app.command(name="ls")
def ls(block: BlockName, path: str = "", *, recursive: Annotated[bool, Parameter(name=["--recursive", "-r"])] = False, json: bool = False) -> None:
    """List the entries of PATH (default: the root) of BLOCK.

    Parameters
    ----------
    path
        Directory inside the block's root (default: the root).
    recursive
        List every file below PATH.
    json
        Print a JSON list of paths.
    """
    files = _block(block).store
    try:
        names = files.ls(path, recursive=recursive)
    except (OSError, ValueError) as exc:
        fail(exc)
    if json:
        print_json(names)
    else:
        for name in names:
            console.print(name, highlight=False)


app.command(ls, name="list", show=False)  # as `models list`: both names everywhere


@app.command(name="info")
def info(block: BlockName, *, json: bool = False) -> None:
    """Show BLOCK's type and settings (secrets masked).

    Parameters
    ----------
    json
        Print JSON instead of a table.
    """
    found = _block(block)
    settings = {name: _shown(getattr(found.settings, name)) for name in type(found.settings).model_fields}
    if json:
        print_json({"type": found.type_slug, "settings": settings, "url": found.store.url()})
    else:
        print_table(f"{found.type_slug}/{block.split('/')[-1]}", ["field", "value"], [*settings.items(), ("url", found.store.url())])


def _shown(value: object) -> str | None:
    # SecretStr prints as ********** ; everything else as itself
    return None if value is None else str(value)


@app.command(name="put")
def put(block: BlockName, source: str, path: str) -> None:
    """Upload the local file SOURCE to PATH in BLOCK (streamed, atomic); prints its FileRef.

    Parameters
    ----------
    source
        Local file to upload.
    path
        Destination path inside the block's root.
    """
    found = _block(block)
    try:
        ref = found.store.upload(source, path)
    except (OSError, ValueError) as exc:
        fail(exc)
    print_json(ref.model_copy(update={"block": found.reference}).model_dump(mode="json"))  # as the block's upload names itself


@app.command(name="get")
def get(block: BlockName, path: str, dest: str) -> None:
    """Download PATH of BLOCK to the local file DEST (streamed, atomic).

    Parameters
    ----------
    path
        Path inside the block's root.
    dest
        Local file to write (replaced atomically).
    """
    files = _block(block).store
    try:
        target = files.download(path, dest)
    except (OSError, ValueError) as exc:
        fail(exc)
    console.print(target, highlight=False)


@app.command(name="rm")
def rm(block: BlockName, path: str, *, recursive: Annotated[bool, Parameter(name=["--recursive", "-r"])] = False) -> None:
    """Delete PATH of BLOCK (a directory only with --recursive).

    Parameters
    ----------
    path
        Path inside the block's root.
    recursive
        Delete a directory and everything in it.
    """
    files = _block(block).store
    try:
        files.delete(path, recursive=recursive)
    except (OSError, ValueError) as exc:
        fail(exc)


@app.command(name="gc")
def gc(block: BlockName, *, older_than: Annotated[float, Parameter(name="--older-than")] = 3600.0, json: bool = False) -> None:
    """Remove what killed writers left in BLOCK: stale hidden temporary files, unfinished S3 uploads.

    Parameters
    ----------
    older_than
        S3: keep unfinished uploads started within this many seconds (they may still be running).
        Local temporary files are removed only when no live writer holds them, whatever their age.
    json
        Print a JSON list of the paths cleaned.
    """
    if not 0 <= older_than < float("inf"):
        fail(f"--older-than must be a number of seconds >= 0, got {older_than:g}")
    found = _block(block)
    try:  # only S3 has an age to keep (FileBlock.collect_garbage)
        removed = found.store.collect_garbage(older_than) if found.type_slug == "lume-s3-files" else found.store.collect_garbage()
    except (OSError, ValueError) as exc:
        fail(exc)
    if json:
        print_json(removed)
    else:
        for path in removed:
            console.print(f"removed: {path}", highlight=False, markup=False)
        console.print(f"{len(removed)} left-overs removed", highlight=False, markup=False)


@app.command(name="prune-inputs")
def prune_inputs(*, older_than: Annotated[float, Parameter(name="--older-than")], services: Services = None,
                 dry_run: Annotated[bool, Parameter(name="--dry-run", negative="")] = False, json: Json = False) -> None:
    """Remove the transport copies of particles inputs (lume-inputs/particles/KEY.h5 in the
    services' file block, KEY the particles' content key) last written more than --older-than
    DAYS ago that no unfinished flow run names. Nothing else is touched (see
    models.particles.prune_transport_inputs).

    Parameters
    ----------
    older_than
        Days (at least an hour's worth, e.g. 0.5): a copy written again within them is kept.
    dry_run
        List what would be removed; remove nothing.
    """
    from lume_prefect.models.particles import prune_transport_inputs

    try:
        removed = prune_transport_inputs(older_than, services=services, dry_run=dry_run)
    except (OSError, ValueError, TypeError) as exc:  # ConnectionError is an OSError
        fail(exc)
    if json:
        print_json(removed)
        return
    for path in removed:
        console.print(f"{'would remove' if dry_run else 'removed'}: {path}", highlight=False, markup=False, soft_wrap=True)
    console.print(f"{len(removed)} transport copies {'to remove' if dry_run else 'removed'}", highlight=False, markup=False)
