"""``lume-prefect registry``: the registry itself (schema status and upgrade; copy to another)."""

from __future__ import annotations

from typing import Annotated

from cyclopts import App, Parameter

from lume_prefect.cli.models import Registry, open_registry, run
from lume_prefect.cli.options import Json, Services
from lume_prefect.cli.output import console, fail, print_json

app = App(name="registry", help="The model registry itself: show its schema revision, upgrade it, copy it to another registry.")


@app.command(name="status")
def status(*, services: Services = None, registry: Registry = None, json: Json = False) -> None:
    """Show the registry database (password hidden) and its schema revision against this lume-prefect's."""
    store = open_registry(registry, services)
    from lume_prefect.registry.errors import RegistryError

    try:
        current, head = store.schema_revision()
    except RegistryError as exc:
        fail(exc)
    if getattr(store, "tracking_uri", None):  # MLflow: the server migrates its own database
        if json:
            print_json({"tracking_uri": store.label, "server": current, "state": "reachable"})
        else:
            console.print(f"{store.label}: {current} server, reachable", highlight=False)
        return
    state = "up to date" if current == head else ("empty (set up on first use)" if current is None else "needs upgrade")
    if json:
        print_json({"database": store.label, "revision": current, "latest": head, "state": state})
    else:
        console.print(f"{store.label}: revision {current or '(none)'}, latest {head}: {state}", highlight=False)


@app.command(name="upgrade")
def upgrade(*, services: Services = None, registry: Registry = None) -> None:
    """Migrate the registry database to this lume-prefect's schema (safe to run twice)."""
    store = open_registry(registry, services)
    before, after = run(store.upgrade)
    label = store.label
    if before == after:
        console.print(f"{label}: already at revision {after}", highlight=False)
    else:
        console.print(f"{label}: upgraded from revision {before or '(empty)'} to {after}", highlight=False)


def _store(where: str):  # type: ignore[no-untyped-def]
    """A registry store from a URL (``http(s)://``: MLflow; else SQLAlchemy) or a saved block's name."""
    if "://" in where:
        from lume_prefect.registry.errors import RegistryError
        from lume_prefect.registry.stores import open_store

        try:
            return open_store(where)
        except RegistryError as exc:
            fail(exc)
    return open_registry(where)


@app.command(name="copy")
def copy(
    *,
    source: Annotated[str, Parameter(name="--from", help="Registry to copy from: an MLflow tracking URI (http(s)://...), a SQLAlchemy URL, or a saved registry block's name.")],
    target: Annotated[str, Parameter(name="--to", help="Registry to copy into (the same forms).")],
    json: Json = False,
) -> None:
    """Copy models, versions, aliases and their history from one registry into another (SQL to
    MLflow or back). Safe to repeat: what the target has already is left alone. MLflow
    credentials come from MLFLOW_TRACKING_USERNAME/MLFLOW_TRACKING_PASSWORD or MLFLOW_TRACKING_TOKEN."""
    from lume_prefect.registry.copy import copy_registry
    from lume_prefect.registry.errors import RegistryError

    origin, destination = _store(source), _store(target)
    try:
        report = copy_registry(origin, destination)
    except RegistryError as exc:
        fail(exc)
    if json:
        print_json({"from": origin.label, "to": destination.label, "models": report.models, "versions": report.versions, "history": report.history})
    elif report.changed:
        console.print(
            f"copied {origin.label} -> {destination.label}: {len(report.models)} models, {report.versions} versions, "
            f"{report.history} alias changes",
            highlight=False,
        )
    else:
        console.print(f"{destination.label} already has everything of {origin.label}: nothing copied", highlight=False)
