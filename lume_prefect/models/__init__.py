"""Models: the contract of a model, deploying versions, running them, pipelines.

``run_model``, ``deploy_model``, ``reproduce`` and the pipeline names are imported on first use
(they load Prefect's deployment machinery).
"""

from lume_prefect.core.lazy import lazy_names
from lume_prefect.models.contract import ModelSpec, Variable
from lume_prefect.models.errors import (
    DeploymentOfOtherServices,
    InvalidInput,
    InvalidOutput,
    ModelError,
    ModelRunFailed,
    ModelRunTimeout,
    NotDeployed,
    PipelineError,
    RunsFromRequired,
    SourceConflict,
)
from lume_prefect.core.resolve import current_services, using_services

_LAZY = {
    "run_model": "lume_prefect.models.run",
    "ModelRun": "lume_prefect.models.run",
    "deploy_model": "lume_prefect.models.deploy",
    "register_model_version": "lume_prefect.models.deploy",
    "reproduce": "lume_prefect.models.reproduce",
    "Reproduction": "lume_prefect.models.reproduce",
    "Pipeline": "lume_prefect.models.pipeline_spec",
    "PipelineStep": "lume_prefect.models.pipeline_spec",
    "register_pipeline": "lume_prefect.models.pipeline",
    "pipeline_flow": "lume_prefect.models.pipeline",
    "model_logger": "lume_prefect.models.logs",
    "prune_transport_inputs": "lume_prefect.models.particles",
}
__getattr__, __dir__ = lazy_names(__name__, _LAZY, globals())

__all__ = [
    *_LAZY,
    "DeploymentOfOtherServices",
    "InvalidInput",
    "InvalidOutput",
    "ModelError",
    "ModelRunFailed",
    "ModelRunTimeout",
    "ModelSpec",
    "NotDeployed",
    "PipelineError",
    "RunsFromRequired",
    "SourceConflict",
    "Variable",
    "current_services",
    "using_services",
]
