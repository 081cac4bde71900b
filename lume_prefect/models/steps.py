"""Prefect deployment steps: ``prefect deploy`` registers the model version it deploys.

Reference a step by its dotted path in ``prefect.yaml``, as ``prefect_docker`` steps are;
its returned keys are usable in the rest of the deployment as ``{{ <step id>.<key> }}``.
Install lume-prefect where ``prefect deploy`` runs (no ``requires:`` needed).

Examples:
    ``prefect --no-prompt deploy --all`` with this ``prefect.yaml`` registers toy-beam's
    version in the registry of ``$LUME_SERVICES`` and deploys it as ``toy-beam/<version>``
    (give the step ``deployment_name`` for another name, e.g. one per environment):
    ```yaml
    deployments:
      - name: "{{ lume.deployment }}"
        version: "{{ lume.version }}"
        entrypoint: &entrypoint flows/toy_beam/model.py:toy_beam
        tags: [lume-prefect, "model:{{ lume.model }}"]
        build:
          - lume_prefect.models.steps.register_model_version:
              id: lume
              entrypoint: *entrypoint
        work_pool:
          name: lume-process
          job_variables:
            env:
              LUME_SERVICES: "{{ lume.services }}"
    ```
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Optional

from typing_extensions import TypedDict

from lume_prefect.models.contract import ModelSpec
from lume_prefect.models.deploy import register_spec
from lume_prefect.models.loading import load_model_flow, spec_of
from lume_prefect.models.ownership import check_owner, deployment_name_of
from lume_prefect.services import load_services, services_name


class RegisteredModelVersion(TypedDict):
    """What ``register_model_version`` returns, for templating the rest of the deployment.

    Attributes:
        model: The model name (also the Prefect flow name).
        version: The version, in PEP 440 normal form.
        deployment: The deployment's own name, after ``<model>/`` (the version unless
            the step was given ``deployment_name``): name the deployment ``{{ <id>.deployment }}``.
        deployment_name: ``<model>/<deployment>``, recorded in the registry.
        deployment_id: Id of that deployment, recorded in the registry.
        services: Name of the LumeServices block: set it as ``LUME_SERVICES`` in the job.
        source: The registered source (absolute directory of the model).
        entrypoint: The registered entrypoint, relative to ``source``.
        sha256: SHA-256 of the source directory.
        image: The registered image, if any.
        registered: False when the version was already registered from the same source.
    """

    model: str
    version: str
    deployment: str
    deployment_name: str
    deployment_id: str
    services: str
    source: str
    entrypoint: str
    sha256: Optional[str]
    image: Optional[str]
    registered: bool


def register_model_version(
    entrypoint: str,
    source: Optional[str] = None,
    services: Optional[str] = None,
    image: Optional[str] = None,
    deployment_name: Optional[str] = None,
    replace: bool = False,
) -> RegisteredModelVersion:
    """Register the model version at ``entrypoint`` in the lume registry (a ``build`` step).

    Records what ``lume-prefect deploy`` records: source directory, its SHA-256, image,
    entrypoint and the spec's parameter schema. A version already registered from the same
    source is left as it is; from another source (other path or other content) it is refused
    with ``SourceConflict`` and ``prefect deploy`` stops before creating anything.

    Prefect runs build steps before it creates the deployment and has no step after it, so
    this step also records the deployment ``<model>/<deployment>`` and its id: it reserves the
    deployment (creates it paused and empty if it does not exist yet), and Prefect then
    writes that same deployment, keeping the id. Name the deployment ``{{ <id>.deployment }}``.
    A deployment of that name whose runs use other services (another environment on the same
    Prefect server) is refused with ``DeploymentOfOtherServices`` before anything is
    registered, unless ``replace``.

    Args:
        entrypoint: The deployment's entrypoint, ``path/to/model.py:flow``, relative to the
            directory ``prefect deploy`` runs in (use the same YAML anchor for both).
        source: The model's directory, relative to that directory: what is hashed and
            registered. Defaults to the directory of the entrypoint's file.
        services: Saved LumeServices block whose registry to use; defaults to
            ``$LUME_SERVICES``, else ``local``.
        image: Container image the version runs in, e.g. ``{{ build-image.image }}``.
        deployment_name: The deployment's own name, after ``<model>/``; defaults to the one
            the registry recorded for the version at its last deploy, else the version.
            A prefect.yaml naming the deployment ``{{ <id>.version }}`` (written before
            ``deployment``; deprecated) always deploys ``<model>/<version>``: that name is
            checked and recorded, and a ``deployment_name`` other than the version is a
            ValueError.
        replace: Take over a deployment of that name even if its runs use other services.

    Returns:
        A dict with the keys of ``RegisteredModelVersion``.
    """
    source_dir, model_entrypoint = _split_entrypoint(entrypoint, source)
    env = load_services(services)
    spec: ModelSpec = spec_of(load_model_flow(model_entrypoint, source_dir), model_entrypoint, source_dir)
    step_id = _named_by_version(entrypoint)
    if step_id is not None:  # Prefect writes <model>/<version> whatever this step names: check that one
        if deployment_name is not None and deployment_name != spec.version:
            raise ValueError(
                f"deployment_name {deployment_name!r} is given to the lume step, but prefect.yaml names the deployment "
                f"'{{{{ {step_id}.version }}}}', so Prefect would write '{spec.name}/{spec.version}' instead: "
                f"name it '{{{{ {step_id}.deployment }}}}'")
        warnings.warn(
            f"prefect.yaml names the deployment of {entrypoint} '{{{{ {step_id}.version }}}}': name it "
            f"'{{{{ {step_id}.deployment }}}}' (the version unless the step is given deployment_name); "
            f"'{{{{ {step_id}.version }}}}' always deploys '{spec.name}/{spec.version}'", DeprecationWarning, stacklevel=2)
        own_name = spec.version
    else:
        own_name = deployment_name_of(env.registry, spec.name, spec.version, deployment_name)
    full_name = f"{spec.name}/{own_name}"
    existing = check_owner(full_name, services_name(services), replace)  # before anything is registered
    registered = register_spec(env, spec, source=source_dir, entrypoint=model_entrypoint, image=image)
    deployment_id = str(existing.id) if existing is not None else _reserve_deployment(spec.name, own_name, spec.version)
    recorded = env.registry.set_deployment(spec.name, spec.version, deployment_name=full_name, deployment_id=deployment_id, _sync=True)
    return RegisteredModelVersion(
        model=spec.name, version=spec.version, deployment=own_name, deployment_name=full_name, deployment_id=deployment_id,
        services=services_name(services), source=recorded.source, entrypoint=recorded.entrypoint,
        sha256=recorded.sha256, image=recorded.image, registered=registered,
    )


def _named_by_version(entrypoint: str) -> Optional[str]:
    """The step's id when the prefect.yaml ``prefect deploy`` is reading names the deployment
    of this step (same ``entrypoint``) ``{{ <id>.version }}``, as it did before the step
    returned ``deployment``; else None (also when the file cannot be found or read).

    Prefect gives a step its inputs only, and writes the deployment after the build steps with
    no step after it: the file (``--prefect-file``, else ``prefect.yaml`` here) is the one
    place saying which name Prefect will write."""
    import re
    import sys

    import yaml

    argv = sys.argv[1:]
    if "deploy" not in argv or "prefect.cli.deploy" not in sys.modules:  # not run by `prefect deploy`
        return None
    path = "prefect.yaml"
    for i, arg in enumerate(argv):
        if arg == "--prefect-file" and i + 1 < len(argv):
            path = argv[i + 1]
        elif arg.startswith("--prefect-file="):
            path = arg.partition("=")[2]
    try:
        config = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError):
        return None
    if not isinstance(config, dict):
        return None
    for deployment in config.get("deployments") or []:
        if not isinstance(deployment, dict):
            continue
        for step in deployment.get("build", config.get("build")) or []:
            inputs = step.get(f"{__name__}.register_model_version") if isinstance(step, dict) else None
            step_id = inputs.get("id") if isinstance(inputs, dict) and inputs.get("entrypoint") == entrypoint else None
            if isinstance(step_id, str) and re.search(r"\{\{\s*" + re.escape(step_id) + r"\.version\s*\}\}", str(deployment.get("name", ""))):
                return step_id
    return None


def _split_entrypoint(entrypoint: str, source: Optional[str]) -> tuple[str, str]:
    """(absolute model directory, entrypoint relative to it) from the project-relative entrypoint."""
    path, sep, flow_name = entrypoint.rpartition(":")
    if not sep or not path.endswith(".py") or not flow_name:
        raise ValueError(f"entrypoint must be 'path/to/model.py:flow', got {entrypoint!r}")
    file = Path(path).resolve()
    directory = Path(source).resolve() if source else file.parent
    if not file.is_file():
        raise ValueError(f"entrypoint file {path!r} not found under {os.getcwd()}")
    if not file.is_relative_to(directory):
        raise ValueError(f"entrypoint {entrypoint!r} is not inside source {source!r}")
    return str(directory), f"{file.relative_to(directory).as_posix()}:{flow_name}"


def _reserve_deployment(model: str, name: str, version: str) -> str:
    """Id of deployment ``<model>/<name>``, creating it paused and empty if absent.

    The server writes a deployment by (flow, name) and keeps its id on every later write,
    so this is the id of the deployment ``prefect deploy`` creates after the build steps.
    Paused and without work pool or schedule, the placeholder can run nothing meanwhile.
    """
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            return str(client.read_deployment_by_name(f"{model}/{name}").id)
        except ObjectNotFound:
            flow_id = client.create_flow_from_name(model)
            return str(client.create_deployment(
                flow_id=flow_id, name=name, version=version, paused=True,
                description=f"being created by prefect deploy for lume model {model} {version}",
            ))
