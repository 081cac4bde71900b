"""Errors of the model service. Each names the model, version, variable or run at fault."""

from __future__ import annotations

from typing import Any, Optional
from uuid import UUID

from lume_prefect.core.errors import LumeError


class ModelError(LumeError):
    """Base of the model service's errors."""


class InvalidInput(ModelError, ValueError):
    """An input is unknown, missing, of the wrong type or outside its range."""

    def __init__(self, model: str, variable: str, problem: str):
        self.model, self.variable, self.problem = model, variable, problem
        super().__init__(f"model {model!r}: input {variable!r} {problem}")


class InvalidOutput(ModelError, ValueError):
    """A model returned outputs that do not match what it declares."""

    def __init__(self, model: str, problem: str):
        self.model = model
        super().__init__(f"model {model!r}: {problem}")


class SourceConflict(ModelError):
    """A version is already registered with a different source."""

    def __init__(self, model: str, version: str, registered: str, given: str):
        self.model, self.version = model, version
        super().__init__(
            f"model {model!r} version {version!r} is already registered with source {registered!r}; "
            f"refusing to re-deploy it from {given!r} (give the new code a new version)"
        )


class ModelRunFailed(ModelError):
    """A model run ended in a failed, crashed or cancelled state."""

    def __init__(self, model: str, version: str, state: Any, flow_run_id: Optional[UUID]):
        self.model, self.version, self.state, self.flow_run_id = model, version, state, flow_run_id
        state_name = getattr(state, "name", state)
        message = getattr(state, "message", None) or ""
        super().__init__(f"model {model!r} version {version!r}: flow run {flow_run_id} ended {state_name}: {message}".rstrip(": "))


class ModelRunTimeout(ModelError, TimeoutError):
    """A remote model run did not finish in time."""

    def __init__(self, model: str, version: str, flow_run_id: Optional[UUID], timeout: float, cancelled: bool):
        self.model, self.version, self.flow_run_id, self.cancelled = model, version, flow_run_id, cancelled
        what = "cancelled it" if cancelled else "left it running"
        super().__init__(f"model {model!r} version {version!r}: flow run {flow_run_id} not finished after {timeout:g} s; {what}")


class FlowNeeded(ModelError, AttributeError):
    """A model module used its flow (``with_options``, ``to_deployment``...) while a worker
    loaded it without one (``models.plain.load_model_function``): load it as its flow."""

    def __init__(self, model: str, version: str, attribute: str):
        self.model, self.version, self.attribute = model, version, attribute
        super().__init__(f"model {model!r} version {version!r} is loaded without its flow, which has {attribute!r}")


class NotDeployed(ModelError):
    """A remote run was asked for a version that has no Prefect deployment."""

    def __init__(self, model: str, version: str):
        self.model, self.version = model, version
        super().__init__(f"model {model!r} version {version!r} has no Prefect deployment; deploy it with deploy_model(ENTRYPOINT) first")

    def for_cli(self) -> str:
        return f"model {self.model!r} version {self.version!r} has no Prefect deployment; run `lume-prefect deploy ENTRYPOINT` first"


class NotALumeModel(ModelError, ValueError):
    """A version registered in MLflow by others whose artifacts hold no lume-torch model YAML."""

    def __init__(self, model: str, version: str):
        self.model, self.version = model, version
        super().__init__(
            f"model {model!r} version {version!r} was registered in MLflow without lume-prefect and its artifacts hold "
            "no lume-torch model YAML (input_variables, output_variables): lume-prefect cannot run it"
        )


class PipelineError(ModelError, ValueError):
    """A pipeline refers to an unknown model, input or output, or is malformed."""


class RunsFromRequired(ModelError, ValueError):
    """A deployment to a work pool whose workers cannot see the deploying machine's files
    (workers in containers) was given no ``runs_from``."""

    def __init__(self, model: str, version: str, pool: str, source: str):
        self.model, self.version, self.pool, self.source = model, version, pool, source
        super().__init__(
            f"model {model!r} version {version!r}: work pool {pool!r} runs flows where {source!r} does not exist "
            "(its workers run in containers); give runs_from (--runs-from): the directory that holds the model's "
            "code where the runs start, e.g. /opt/lume-prefect/flows/toy_beam in the lume-prefect image"
        )


class DeploymentOfOtherServices(ModelError):
    """A deploy would overwrite the Prefect deployment of another services block (another
    environment's registry and results store on the same Prefect server)."""

    def __init__(self, deployment: str, owner: str, services: str):
        self.deployment, self.owner, self.services = deployment, owner, services
        super().__init__(
            f"deployment {deployment!r} belongs to services {owner!r} (its runs use their registry and results store); "
            f"refusing to point it at services {services!r}: give this environment its own deployment with "
            f"deployment_name=..., e.g. deployment_name='{deployment.partition('/')[2]}-{services}', or take it over "
            f"with replace=True (runs of {owner!r} then need a new deployment)"
        )

    def for_cli(self) -> str:
        return str(self).replace("deployment_name=..., e.g. deployment_name=", "--deployment-name, e.g. --deployment-name ").replace(
            "replace=True", "--replace")
