"""A registry store from a URL: ``http(s)://`` is an MLflow tracking server, anything else a
SQLAlchemy database URL. For the CLI's ``--from``/``--to`` and scripts; blocks are the usual way."""

from __future__ import annotations

import os
from typing import Any

MLFLOW_SCHEMES = ("http://", "https://")


def is_mlflow_uri(url: str) -> bool:
    return url.startswith(MLFLOW_SCHEMES)


def open_store(url: str) -> Any:
    """``MLflowStore`` for an MLflow tracking URI (credentials from MLflow's own variables
    ``MLFLOW_TRACKING_USERNAME``/``_PASSWORD`` or ``_TOKEN``), else ``SQLRegistry``."""
    if is_mlflow_uri(url):
        from lume_prefect.registry.mlflow_store import MLflowStore

        return MLflowStore(
            url,
            username=os.environ.get("MLFLOW_TRACKING_USERNAME"),
            password=os.environ.get("MLFLOW_TRACKING_PASSWORD"),
            token=os.environ.get("MLFLOW_TRACKING_TOKEN"),
        )
    from lume_prefect.registry.store import SQLRegistry

    return SQLRegistry(url)
