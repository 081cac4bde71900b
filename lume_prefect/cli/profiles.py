"""``lume-prefect profiles``: apply the block documents of an environment from a file in git."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from cyclopts import App, Parameter

from lume_prefect.cli.output import console, fail

app = App(
    name="profiles",
    help="Profiles: the block documents of an environment (local, dev, prod) as code, applied in one command.",
)


@app.command(name="apply")
def apply(
    file: Path,
    *,
    dry_run: Annotated[bool, Parameter(name="--dry-run", negative="", help="Validate every block; save nothing.")] = False,
) -> None:
    """Validate every block of FILE, then save them all to the Prefect API (same-named documents are overwritten).

    Values written ${NAME} come from the environment; nothing is saved unless every block
    is valid and every variable is set. Secret values are never printed.

    Parameters
    ----------
    file
        Profile YAML file (e.g. blocks/dev.yaml).
    """
    from lume_prefect.profiles import ProfileError, apply_profile

    try:
        applied = apply_profile(file, dry_run=dry_run)
    except ProfileError as exc:
        fail(exc)
    for block in applied:
        verb = "saved" if block.saved else "valid"
        console.print(f"{verb}: {block.slug}/{block.name}", highlight=False, markup=False, soft_wrap=True)
    done = "would be saved (dry run)" if dry_run else "saved"
    console.print(f"{file}: {len(applied)} block documents {done}", highlight=False, markup=False, soft_wrap=True)


@app.command(name="show")
def show(file: Path) -> None:
    """Show the blocks of FILE with the environment substituted and every secret masked.

    Parameters
    ----------
    file
        Profile YAML file (e.g. blocks/dev.yaml).
    """
    from lume_prefect.profiles import ProfileError, build_blocks, describe, read_profile

    try:
        profile = read_profile(file)
        rows = list(describe(profile, build_blocks(profile)))
    except ProfileError as exc:
        fail(exc)
    # One group of "field: value" lines per block, never truncated to the terminal's width.
    console.print(f"{file}: {profile.description}" if profile.description else str(file), highlight=False, markup=False, soft_wrap=True)
    current = None
    for block, slug, field, value in rows:
        if block != current:
            console.print(f"{block} ({slug})", style="bold", highlight=False, markup=False)
            current = block
        console.print(f"  {field}: {value}", highlight=False, markup=False, soft_wrap=True)
