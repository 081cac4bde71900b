"""``lume-prefect registry``: the registry database itself (schema status and upgrade)."""

from __future__ import annotations

from cyclopts import App

from lume_prefect.cli.models import Registry, open_registry, run
from lume_prefect.cli.options import Json, Services
from lume_prefect.cli.output import console, print_json

app = App(name="registry", help="The model registry's database: show its schema revision, upgrade it.")


@app.command(name="status")
def status(*, services: Services = None, registry: Registry = None, json: Json = False) -> None:
    """Show the registry database (password hidden) and its schema revision against this lume-prefect's."""
    store = open_registry(registry, services).registry()
    current, head = store.schema_revision()
    state = "up to date" if current == head else ("empty (set up on first use)" if current is None else "needs upgrade")
    if json:
        print_json({"database": store.label, "revision": current, "latest": head, "state": state})
    else:
        console.print(f"{store.label}: revision {current or '(none)'}, latest {head}: {state}", highlight=False)


@app.command(name="upgrade")
def upgrade(*, services: Services = None, registry: Registry = None) -> None:
    """Migrate the registry database to this lume-prefect's schema (safe to run twice)."""
    block = open_registry(registry, services)
    before, after = run(block.upgrade)
    label = block.registry().label
    if before == after:
        console.print(f"{label}: already at revision {after}", highlight=False)
    else:
        console.print(f"{label}: upgraded from revision {before or '(empty)'} to {after}", highlight=False)
