"""``lume-prefect models``: browse the model registry, register versions, promote and revert.

The registry is that of the services named by ``--services`` (default: ``$LUME_SERVICES``,
else ``local``): the rule of ``lume_prefect.core.resolve``. The older ``--registry NAME`` (or
``$LUME_PREFECT_REGISTRY``), a saved ``ModelRegistry`` block, still works and wins; it is no
longer shown in the help.
"""

from __future__ import annotations

import json as jsonlib
from pathlib import Path
from typing import Annotated, Any, Optional

from cyclopts import App, Parameter

from lume_prefect.cli.options import Json, Services
from lume_prefect.cli.output import console, fail, print_json, print_table

app = App(name="models", help="Models in the registry: list, show, register, promote, revert, history.")

# The option before --services: a saved ModelRegistry block; hidden, still honoured (and first).
Registry = Annotated[Optional[str], Parameter(name="--registry", env_var="LUME_PREFECT_REGISTRY", show=False)]


def open_registry(name: Optional[str], services: Optional[str] = None):  # type: ignore[no-untyped-def]
    """The registry (``SQLRegistry`` or ``MLflowStore``) of the saved block ``name``
    (``--registry``), else of the services ``services``, built without Prefect where it can be
    (``lume_prefect.stores``); a missing block is a clean error, not a traceback."""
    from lume_prefect.stores import find

    try:
        return find("registry", name, services).store
    except (ValueError, TypeError) as exc:
        fail(f"cannot load registry block {name!r}: {exc}" if name else exc)


def run(call, *args: Any, **kwargs: Any) -> Any:  # type: ignore[no-untyped-def]
    """Call a registry method; registry errors become one red line and exit code 1."""
    from lume_prefect.registry.errors import RegistryError

    try:
        return call(*args, **kwargs)
    except RegistryError as exc:
        fail(exc)


def _time(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value is not None else ""


def _tags(pairs: Optional[list[str]]) -> dict[str, Optional[str]]:
    result: dict[str, Optional[str]] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        result[key] = value if sep else None
    return result


@app.command(name="list")
def list_models(
    *,
    author: Optional[str] = None,
    laboratory: Optional[str] = None,
    facility: Optional[str] = None,
    beampath: Optional[str] = None,
    tag: Annotated[Optional[list[str]], Parameter(help="KEY=VALUE (or KEY: has the tag); repeatable.", negative=())] = None,
    services: Services = None,
    registry: Registry = None,
    json: Json = False,
) -> None:
    """List models, optionally only those matching the metadata and tags given.

    Parameters
    ----------
    author
        Only models by this author.
    laboratory
        Only models of this laboratory.
    facility
        Only models of this facility.
    beampath
        Only models of this beam path.
    """
    filters: dict[str, Any] = {
        k: v for k, v in {"author": author, "laboratory": laboratory, "facility": facility, "beampath": beampath}.items() if v is not None
    }
    if tag:
        filters["tags"] = _tags(tag)
    found = run(open_registry(registry, services).list_models, **filters)
    if json:
        print_json([m.model_dump(mode="json") for m in found])
        return
    print_table(
        "models",
        ["name", "live", "author", "laboratory", "facility", "beampath", "tags"],
        [
            (m.name, m.live_version, m.author, m.laboratory, m.facility, m.beampath, ", ".join(f"{k}={v}" for k, v in m.tags.items()))
            for m in found
        ],
    )


app.command(list_models, name="ls", show=False)  # as `files ls`: both names everywhere


@app.command(name="show")
def show(name: str, *, services: Services = None, registry: Registry = None, json: Json = False) -> None:
    """Show a model: metadata, tags, aliases and its latest version.

    Parameters
    ----------
    name
        Model name.
    """
    store = open_registry(registry, services)
    model = run(store.get_model, name)
    versions = run(store.list_versions, name)
    latest = versions[0].version if versions else None
    if json:
        print_json({**model.model_dump(mode="json"), "latest_version": latest, "version_count": len(versions)})
        return
    rows = [
        ("name", model.name),
        ("author", model.author),
        ("laboratory", model.laboratory),
        ("facility", model.facility),
        ("beampath", model.beampath),
        ("description", model.description),
        ("tags", ", ".join(f"{k}={v}" for k, v in model.tags.items())),
        ("created", _time(model.created_at)),
        ("live", model.live_version or "(none)"),
        *((f"alias {a}", v) for a, v in model.aliases.items() if a != "live"),
        ("latest", latest or "(no versions)"),
        ("versions", str(len(versions))),
    ]
    print_table(f"model {model.name}", ["field", "value"], rows)


@app.command(name="versions")
def versions(name: str, *, services: Services = None, registry: Registry = None, json: Json = False) -> None:
    """List a model's versions, newest first (PEP 440 order), with their aliases.

    Parameters
    ----------
    name
        Model name.
    """
    store = open_registry(registry, services)
    model = run(store.get_model, name)
    found = run(store.list_versions, name)
    if json:
        print_json([v.model_dump(mode="json") for v in found])
        return
    by_version: dict[str, list[str]] = {}
    for alias, version in model.aliases.items():
        by_version.setdefault(version, []).append(alias)
    print_table(
        f"versions of {name}",
        ["version", "aliases", "registered", "by", "entrypoint", "source", "image", "deployment"],
        [
            (v.version, ", ".join(by_version.get(v.version, [])), _time(v.registered_at), v.registered_by,
             v.entrypoint, v.source, v.image, v.deployment_name)
            for v in found
        ],
    )


@app.command(name="register")
def register(
    name: str,
    version: Optional[str] = None,
    *,
    source: Optional[str] = None,
    entrypoint: Optional[str] = None,
    sha256: Optional[str] = None,
    image: Optional[str] = None,
    parameters_schema: Annotated[Optional[Path], Parameter(help="JSON file with the JSON schema of the flow's inputs.")] = None,
    author: Optional[str] = None,
    laboratory: Optional[str] = None,
    facility: Optional[str] = None,
    beampath: Optional[str] = None,
    description: str = "",
    tag: Annotated[Optional[list[str]], Parameter(help="KEY=VALUE tag of a new model; repeatable.", negative=())] = None,
    lume: Annotated[bool, Parameter(negative="", help="ENTRYPOINT path.py:name is a LUME model (a LUMEModel or LUMETorch, or a function returning one); a .yml entrypoint always is.")] = False,
    stateless: Annotated[bool, Parameter(negative="", help="LUME simulator: no reset() before each point (its outputs depend on the inputs alone).")] = False,
    vectorized: Annotated[Optional[bool], Parameter(help="LUME model: call it once per batch (default: what the model can do).")] = None,
    services: Services = None,
    registry: Registry = None,
    json: Json = False,
) -> None:
    """Register model NAME (with --author, --laboratory, --facility, --beampath) and/or its
    VERSION (with --source and --entrypoint). Metadata given for an existing model is ignored.

    A LUME model (a lume-torch model.yml, or --lume) is loaded to read its variables; metadata
    it lacks defaults to the OS user (author) and 'unspecified'.

    Parameters
    ----------
    name
        Model name (letters, digits, '.', '_', '-').
    version
        PEP 440 version to register (e.g. 1.2.0).
    source
        Where the version's code is: a path, a git URL, or a package requirement.
    entrypoint
        The flow inside SOURCE: path/to/file.py:flow_function or module:flow.
    sha256
        SHA-256 of the source, to refuse a later registration from changed code.
    image
        Container image the version runs in.
    author
        Author of a new model.
    laboratory
        Laboratory of a new model.
    facility
        Facility of a new model.
    beampath
        Beam path of a new model.
    description
        What a new model computes.
    """
    for pair in tag or []:  # a tag of a new model has a value; KEY alone is for `models list`
        if "=" not in pair or not pair.partition("=")[0]:
            fail(f"--tag takes KEY=VALUE (an empty value is KEY=), got {pair!r}")
    store = open_registry(registry, services)
    metadata = {"author": author, "laboratory": laboratory, "facility": facility, "beampath": beampath}
    from lume_prefect.models.deploy import is_lume_model_path

    if lume or stateless or vectorized is not None or (entrypoint and is_lume_model_path(entrypoint)):
        if version is None or source is None or entrypoint is None:
            fail("registering a LUME model needs VERSION, --source and --entrypoint")
        _register_lume(store, name, version, source, entrypoint, image=image, description=description or None, tags={k: v or "" for k, v in _tags(tag).items()},
                       stateless=stateless, vectorized=vectorized, json=json, **metadata)
        return
    given = [k for k, v in metadata.items() if v is not None]
    if given and len(given) < len(metadata):
        fail(f"to register a model give all of --author --laboratory --facility --beampath (missing: {', '.join(k for k in metadata if k not in given)})")
    if version is None and not given:
        fail("give VERSION with --source and --entrypoint, or the model's --author --laboratory --facility --beampath")
    if version is not None and (source is None or entrypoint is None):
        fail("registering a version needs --source and --entrypoint")
    schema = None
    if parameters_schema is not None:
        try:
            schema = jsonlib.loads(parameters_schema.read_text())
        except (OSError, ValueError) as exc:
            fail(f"cannot read --parameters-schema {str(parameters_schema)!r}: {exc}")
    result: Any
    if given:
        tags = {k: v or "" for k, v in _tags(tag).items()}
        result = run(store.register_model, name, description=description, tags=tags, exist_ok=version is not None, **metadata)
    if version is not None:
        result = run(
            store.register_version, name, version, source=source, entrypoint=entrypoint, sha256=sha256, image=image,
            parameters_schema=schema,
        )
        message = f"registered {name} {result.version}"
    else:
        message = f"registered model {name}"
    if json:
        print_json(result.model_dump(mode="json"))
    else:
        console.print(message, highlight=False)


def _register_lume(store: Any, name: str, version: str, source: str, entrypoint: str, *, image: Optional[str], json: bool, **options: Any) -> None:
    from lume_prefect.models.deploy import model_to_register, source_sha256

    resolved = str(Path(source).resolve())
    try:
        entrypoint, spec = model_to_register(entrypoint, resolved, name=name, version=version, **options)
    except (OSError, TypeError, ValueError, ImportError) as exc:
        fail(f"{entrypoint}: {exc}")
    run(store.register_model, name, **spec.registry_metadata(), exist_ok=True)
    result = run(store.register_version, name, spec.version, source=resolved, entrypoint=entrypoint, sha256=source_sha256(resolved),
                 image=image, parameters_schema=spec.parameters_schema())
    if json:
        print_json(result.model_dump(mode="json"))
    else:
        console.print(f"registered {name} {result.version} ({len(spec.inputs)} inputs, {len(spec.outputs)} outputs)", highlight=False)


def _print_change(change: Any, json: bool) -> None:
    if json:
        print_json(change.model_dump(mode="json"))
    else:
        console.print(
            f"{change.model} {change.alias}: {change.from_version or '(none)'} -> {change.to_version or '(none)'}",
            highlight=False,
        )


@app.command(name="promote")
def promote(name: str, version: str, *, alias: str = "live", services: Services = None, registry: Registry = None, json: Json = False) -> None:
    """Make VERSION the live version of NAME (or point --alias at it).

    Parameters
    ----------
    name
        Model name.
    version
        Version to make live (PEP 440 equal versions match: 1.0 finds 1.0.0).
    alias
        Alias to move (default: live).
    """
    store = open_registry(registry, services)
    _print_change(run(store.set_alias, name, alias, version), json)


@app.command(name="revert")
def revert(name: str, *, alias: str = "live", services: Services = None, registry: Registry = None, json: Json = False) -> None:
    """Point the live alias of NAME (or --alias) back at the version it pointed at before.

    Parameters
    ----------
    name
        Model name.
    alias
        Alias to move back (default: live).
    """
    store = open_registry(registry, services)
    _print_change(run(store.revert, name, alias), json)


@app.command(name="history")
def history(name: str, *, alias: Optional[str] = None, services: Services = None, registry: Registry = None, json: Json = False) -> None:
    """Every alias change of NAME (who, when, from, to), oldest first.

    Parameters
    ----------
    name
        Model name.
    alias
        Only changes of this alias.
    """
    changes = run(open_registry(registry, services).history, name, alias)
    if json:
        print_json([c.model_dump(mode="json") for c in changes])
        return
    print_table(
        f"alias history of {name}",
        ["#", "when", "alias", "action", "from", "to", "by"],
        [(c.id, _time(c.changed_at), c.alias, c.action, c.from_version, c.to_version, c.changed_by) for c in changes],
    )
