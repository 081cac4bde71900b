"""The pull step of a model version's deployment: start in the directory holding its code.

Prefect's own ``set_working_directory`` step fails, where that directory does not exist on
the worker's machine, with a traceback in the worker's output only: the flow run just
"exited with status code 1". This one tells the flow run's logs why, and what to do.
"""

from __future__ import annotations

import os
import socket
from typing import Any


def set_working_directory(directory: str) -> dict[str, str]:
    """``prefect.deployments.steps.set_working_directory``, its failure in the flow run's logs."""
    try:
        os.chdir(directory)
    except OSError as exc:
        _log_to_flow_run(
            f"cannot start in {directory!r} on {socket.gethostname()}: {exc.strerror}. The runs of this deployment "
            "start in the directory that holds the model's code where the worker runs; deploy it again with "
            "runs_from (lume-prefect deploy --runs-from DIR) naming that directory, e.g. inside the image"
        )
        raise
    return {"directory": directory}


def _log_to_flow_run(message: str) -> None:
    from prefect.logging import get_logger
    from prefect.logging.handlers import APILogHandler

    flow_run_id: Any = os.environ.get("PREFECT__FLOW_RUN_ID")
    get_logger("prefect.flow_runs").error(message, extra={"flow_run_id": flow_run_id} if flow_run_id else {})
    APILogHandler.flush()
