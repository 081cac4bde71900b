"""``lume-prefect deploy``, ``lume-prefect run`` and ``lume-prefect pipelines``: model versions at work.

The environment is the saved ``LumeServices`` block named by ``--services`` (or
``$LUME_SERVICES``); without either, the embedded ``local`` environment.
"""

from __future__ import annotations

import json as jsonlib
from typing import Annotated, Any, Literal, Optional

from cyclopts import App, Parameter, validators

from lume_prefect.cli.options import Json, Services
from lume_prefect.cli.output import (
    console, fail, json_object, print_json, print_table, run_tracebacks_in_logs_only, said_on_hard_exit,
)

Verbose = Annotated[bool, Parameter(name="--verbose", negative="", help="Also print a failed run's traceback (it is always in the flow run's logs).")]

pipelines = App(name="pipelines", help="Pipelines (flows of flows): register and run.")


def _errors() -> tuple[type[BaseException], ...]:
    from lume_prefect.models.errors import ModelError
    from lume_prefect.registry.errors import RegistryError
    from lume_prefect.results.errors import ResultsError

    return (ModelError, RegistryError, ResultsError, ValueError, TypeError, OSError)


def _parse_inputs(pairs: Optional[list[str]], inputs_json: Optional[str]) -> dict[str, Any]:
    values: dict[str, Any] = json_object(inputs_json, "--inputs", "'{\"sigma_x\": 0.002}'") if inputs_json else {}
    for pair in pairs or []:
        name, sep, text = pair.partition("=")
        if not sep or not name:
            fail(f"--input takes NAME=VALUE, got {pair!r}")
        if name in values:
            fail(f"input {name!r} is given twice; give each input once")
        try:
            values[name] = jsonlib.loads(text)  # numbers, booleans, lists as JSON
        except ValueError:
            values[name] = text  # anything else is a string
    return values


def _show_run(run: Any, json: bool) -> None:
    result = run.result
    if json:
        print_json({
            "model": run.model, "version": run.version, "mode": run.mode, "cached": run.cached,
            "flow_run_id": str(run.flow_run_id) if run.flow_run_id else None,
            "key": result.key if result is not None else None,
            "outputs": {k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in run.outputs.items()},
        })
        return
    how = "cache hit" if run.cached else run.mode
    console.print(f"{run.model} {run.version} ({how}), flow run {run.flow_run_id}", highlight=False)
    if result is not None:
        console.print(f"result key {result.key}", highlight=False)
        print_table(None, ["output", "value"], [(k, v) for k, v in run.outputs.items()])


def deploy(
    entrypoint: str,
    *,
    source: Annotated[str, Parameter(help="Directory holding the code (entrypoint is relative to it).")] = ".",
    services: Services = None,
    pool: Annotated[Optional[str], Parameter(help="Work pool (default: the services' work_pool).")] = None,
    cron: Optional[str] = None,
    interval: Annotated[Optional[float], Parameter(help="Seconds between scheduled runs.", validator=validators.Number(gt=0))] = None,
    image: Optional[str] = None,
    runs_from: Annotated[Optional[str], Parameter(help="Directory holding the source's files where runs start (e.g. inside --image).")] = None,
    tag: Annotated[Optional[list[str]], Parameter(help="Extra deployment tag (repeatable).", negative=())] = None,
    no_deployment: Annotated[bool, Parameter(negative="", help="Only register the version (in-process use).")] = False,
    name: Annotated[Optional[str], Parameter(help="Name of a LUME model (it carries none).")] = None,
    version: Annotated[Optional[str], Parameter(help="Version of a LUME model (it carries none).")] = None,
    author: Annotated[Optional[str], Parameter(help="Author of a new LUME model (default: the OS user).")] = None,
    laboratory: Annotated[Optional[str], Parameter(help="Laboratory of a new LUME model (default: unspecified).")] = None,
    facility: Annotated[Optional[str], Parameter(help="Facility of a new LUME model (default: unspecified).")] = None,
    beampath: Annotated[Optional[str], Parameter(help="Beam path of a new LUME model (default: unspecified).")] = None,
    stateless: Annotated[bool, Parameter(negative="", help="LUME simulator: no reset() before each point.")] = False,
    vectorized: Annotated[Optional[bool], Parameter(help="LUME model: call it once per batch (default: what the model can do).")] = None,
    deployment_name: Annotated[Optional[str], Parameter(help="The deployment's name after MODEL/ (default: the one recorded at the last deploy, else the version).")] = None,
    replace: Annotated[bool, Parameter(negative="", help="Take over the deployment even if its runs use other services.")] = False,
) -> None:
    """Register the model version at ENTRYPOINT (path.py:flow, or a LUME model with --name and
    --version) and create its Prefect deployment.

    Parameters
    ----------
    entrypoint
        The model's flow: path/to/model.py:flow_function, relative to --source; or a LUME model:
        a lume-torch model.yml, or path.py:name of a LUMEModel or LUMETorch (or a function returning one).
    cron
        Cron schedule of runs with default inputs (e.g. '0 * * * *').
    image
        Container image of the deployment (Docker and Kubernetes pools).
    """
    from lume_prefect.models.deploy import deploy_model, register_model_version

    given = {"author": author, "laboratory": laboratory, "facility": facility, "beampath": beampath, "vectorized": vectorized}
    lume = {k: v for k, v in given.items() if v is not None} | ({"stateless": True} if stateless else {})
    try:
        if no_deployment:
            registered = register_model_version(entrypoint, source, services=services, image=image, name=name, version=version, **lume)
            console.print("registered" if registered else "already registered from the same source; nothing to do")
            return
        done = deploy_model(entrypoint, source, services=services, work_pool=pool, cron=cron, interval=interval, image=image, runs_from=runs_from, tags=tag,
                            name=name, version=version, deployment_name=deployment_name, replace=replace, **lume)
    except _errors() as exc:
        fail(exc)
    state = "registered and deployed" if done.registered else "already registered from the same source; deployment updated"
    console.print(f"{done.model} {done.version}: {state} as {done.deployment_name} ({done.deployment_id})", highlight=False)


def run(
    model: str,
    *,
    version: Optional[str] = None,
    input: Annotated[Optional[list[str]], Parameter(name=["--input", "-i"], help="NAME=VALUE (VALUE as JSON if it parses; repeatable).", negative=())] = None,
    inputs: Annotated[Optional[str], Parameter(help="All inputs as one JSON object.")] = None,
    services: Services = None,
    mode: Annotated[Optional[Literal["in-process", "remote"]], Parameter(help="Override the services' run mode.")] = None,
    refresh: Annotated[bool, Parameter(negative="", help="Recompute even if the result is stored.")] = False,
    timeout: Annotated[Optional[float], Parameter(help="Seconds to wait for a remote run (cancelled after).", validator=validators.Number(gt=0))] = None,
    json: Json = False,
    verbose: Verbose = False,
) -> None:
    """Run MODEL (its live version unless --version) and print its outputs.

    Parameters
    ----------
    model
        Model (or pipeline) name in the registry.
    version
        Version to run (default: the live version).
    """
    from lume_prefect.models.run import run_model

    values = _parse_inputs(input, inputs)
    with run_tracebacks_in_logs_only(verbose), said_on_hard_exit(f"model {model!r}"):
        try:
            outcome = run_model(model, values, version, services=services, mode=mode, refresh=refresh, timeout=timeout)
        except _errors() as exc:
            _fail_run(exc, verbose)
    _show_run(outcome, json)


def _fail_run(exc: BaseException, verbose: bool) -> None:
    """One line; a failed run's says where its traceback is."""
    from lume_prefect.models.errors import ModelRunFailed

    hint = "; its traceback is in the flow run's logs (or run again with --verbose)" if isinstance(exc, ModelRunFailed) and not verbose else ""
    fail(f"{exc.for_cli() if hasattr(exc, 'for_cli') else exc}{hint}")


@pipelines.command(name="register")
def register_pipeline_file(path: str, *, services: Services = None) -> None:
    """Validate the pipeline in the YAML file PATH against the registry and register it like a model.

    Parameters
    ----------
    path
        Pipeline YAML file.
    """
    from lume_prefect.models.pipeline import Pipeline, register_pipeline

    try:
        chain = Pipeline.from_yaml(path)
        registered = register_pipeline(chain, services)
    except _errors() as exc:
        fail(exc)
    console.print(f"{chain.name} {chain.version}: {'registered' if registered else 'already registered, unchanged'}", highlight=False)


@pipelines.command(name="run")
def run_pipeline(
    name: str,
    *,
    version: Optional[str] = None,
    input: Annotated[Optional[list[str]], Parameter(name=["--input", "-i"], help="NAME=VALUE (VALUE as JSON if it parses; repeatable).", negative=())] = None,
    inputs: Annotated[Optional[str], Parameter(help="All inputs as one JSON object.")] = None,
    services: Services = None,
    mode: Annotated[Optional[Literal["in-process", "remote"]], Parameter(help="Override the services' run mode for every step.")] = None,
    refresh: Annotated[bool, Parameter(negative="", help="Recompute even if the result is stored.")] = False,
    json: Json = False,
    verbose: Verbose = False,
) -> None:
    """Run the registered pipeline NAME (its live version unless --version): every step in order, each a model run.

    Parameters
    ----------
    name
        Pipeline name, as registered by `lume-prefect pipelines register`.
    version
        Version to run (default: the live version).
    """
    from lume_prefect.models.pipeline import PIPELINE_KEY
    from lume_prefect.models.lookup import registered_version
    from lume_prefect.models.run import run_model
    from lume_prefect.services import load_services

    values = _parse_inputs(input, inputs)
    try:
        env = load_services(services)
        registered = registered_version(env.registry, name, version)
    except _errors() as exc:
        fail(exc)
    if PIPELINE_KEY not in (registered.parameters_schema or {}):
        fail(f"{name} {registered.version} is a model, not a pipeline: run it with `lume-prefect run {name}`")
    with run_tracebacks_in_logs_only(verbose), said_on_hard_exit(f"pipeline {name!r}"):
        try:
            outcome = run_model(name, values, registered.version, services=env, mode=mode, refresh=refresh)
        except _errors() as exc:
            _fail_run(exc, verbose)
    _show_run(outcome, json)


Tolerance = Annotated[float, Parameter(validator=validators.Number(gte=0))]


def reproduce(key: str, *, services: Services = None, rtol: Tolerance = 1e-9, atol: Tolerance = 0.0, json: Json = False) -> None:
    """Re-run the exact model version and inputs of the stored result KEY and compare outputs.

    Parameters
    ----------
    key
        Key of the stored result to reproduce: 64 hex digits, or the first 12 shown by `results list` and the logs.
    rtol
        Relative tolerance when comparing numeric outputs.
    atol
        Absolute tolerance when comparing numeric outputs.
    json
        Print JSON instead of a table.
    """
    from lume_prefect.models.reproduce import reproduce as reproduce_result

    try:
        outcome = reproduce_result(key, services=services, rtol=rtol, atol=atol)
    except _errors() as exc:
        fail(exc)
    if json:
        print_json({"key": outcome.key, "matches": outcome.matches, "flow_run_id": str(outcome.rerun.flow_run_id),
                    "differences": {k: [str(a), str(b)] for k, (a, b) in outcome.differences.items()}})
    elif outcome.matches:
        console.print(f"reproduced: {outcome.stored.model} {outcome.stored.version} gives the same outputs (flow run {outcome.rerun.flow_run_id})", highlight=False)
    else:
        print_table("outputs that differ", ["output", "stored", "now"], [(k, a, b) for k, (a, b) in outcome.differences.items()])
    if not outcome.matches:
        raise SystemExit(2)
