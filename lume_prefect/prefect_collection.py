"""Imported by Prefect through the ``prefect.collections`` entry point.

Importing the block classes registers them, so a Prefect server or client started in an
environment where lume-prefect is installed knows every lume block type (and the worker
type ``lume-slurm``). A server started with another ``LUME_PREFECT_BLOCK_LOGOS`` than the
last one registers the block types again (``forget_registration_on_logo_change``).
"""

from lume_prefect.core.blocks import forget_registration_on_logo_change
from lume_prefect.files.blocks import LocalFiles, MountedFiles, S3Files
from lume_prefect.registry.blocks import MLflowRegistry, ModelRegistry
from lume_prefect.results.blocks import MongoResults, SQLResults
from lume_prefect.services import LumeServices
from lume_prefect.slurm.blocks import SlurmCluster
from lume_prefect.slurm.worker import SlurmWorker

forget_registration_on_logo_change()

__all__ = [
    "LocalFiles",
    "LumeServices",
    "MLflowRegistry",
    "ModelRegistry",
    "MongoResults",
    "MountedFiles",
    "S3Files",
    "SQLResults",
    "SlurmCluster",
    "SlurmWorker",
]
