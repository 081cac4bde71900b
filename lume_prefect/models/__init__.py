"""Models: the contract of a model, deploying versions, running them, pipelines."""

from lume_prefect.models.contract import ModelSpec, Variable
from lume_prefect.models.errors import (
    InvalidInput,
    InvalidOutput,
    ModelError,
    ModelRunFailed,
    ModelRunTimeout,
    NotDeployed,
    PipelineError,
    SourceConflict,
)
from lume_prefect.models.flows import current_services, using_services

__all__ = [
    "InvalidInput",
    "InvalidOutput",
    "ModelError",
    "ModelRunFailed",
    "ModelRunTimeout",
    "ModelSpec",
    "NotDeployed",
    "PipelineError",
    "SourceConflict",
    "Variable",
    "current_services",
    "using_services",
]
