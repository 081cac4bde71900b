"""Artifacts on the flow run's own page, where a person looks first.

Prefect files an artifact created inside a task under that task run: the flow run's Artifacts
tab then lists it under "Task runs" and shows "Flow run: None". These helpers attach it to the
flow run instead. An artifact card renders the first block of its description as markdown, so
a plot whose description is its image shows on the card itself, no click needed.
"""

from __future__ import annotations

import base64
import json
from typing import Any, Optional
from uuid import UUID


def current_flow_run_id() -> Optional[UUID]:
    """The flow run this code runs in (also from a task run in another process), else None."""
    from prefect.context import FlowRunContext, TaskRunContext

    flow_context = FlowRunContext.get()
    if flow_context is not None and flow_context.flow_run is not None:
        return flow_context.flow_run.id
    task_context = TaskRunContext.get()
    return task_context.task_run.flow_run_id if task_context is not None else None


def create_flow_run_artifact(kind: str, key: str, data: Any, description: str) -> None:
    """Create an artifact (``markdown``, ``table``, ``image``...) on the current flow run."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import ArtifactCreate

    with get_client(sync_client=True) as client:
        client.create_artifact(
            ArtifactCreate(type=kind, key=key, data=data, description=description, flow_run_id=current_flow_run_id())
        )


def publish_plot(png: bytes, key: str, caption: str, table: dict[str, list[Any]], count: int, shown: int, location: str = "") -> None:
    """The plot as a markdown artifact whose card shows the image, and its values as a table."""
    image = f"![{caption}](data:image/png;base64,{base64.b64encode(png).decode()})"
    saved = f"\n\nSaved to `{location}`" if location else ""
    create_flow_run_artifact("markdown", key, f"## {caption}\n\n{image}\n\n{count} results{saved}", image)
    create_flow_run_artifact(
        "table", f"{key}-data", json.dumps(table, allow_nan=False), f"Plotted values of {caption} (first {shown} of {count} results)"
    )
