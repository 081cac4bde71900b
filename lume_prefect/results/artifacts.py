"""Artifacts on the flow run's own page, where a person looks first.

Prefect files an artifact created inside a task under that task run: the flow run's Artifacts
tab then lists it under "Task runs" and shows "Flow run: None". These helpers attach it to the
flow run instead. An artifact card renders the first block of its description as markdown, so
a plot whose description is its image shows on the card itself, no click needed.
"""

from __future__ import annotations

import base64
import json
import re
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
    """Create an artifact (``markdown``, ``table``, ``image``...) on the current flow run, through
    the run's own client when it has a sync one (no new connection per artifact)."""
    from prefect.client.orchestration import SyncPrefectClient, get_client
    from prefect.client.schemas.actions import ArtifactCreate
    from prefect.context import FlowRunContext

    artifact = ArtifactCreate(type=kind, key=key, data=data, description=description, flow_run_id=current_flow_run_id())
    context = FlowRunContext.get()
    if context is not None and isinstance(context.client, SyncPrefectClient):
        context.client.create_artifact(artifact)
        return
    with get_client(sync_client=True) as client:
        client.create_artifact(artifact)


def artifact_key(text: str) -> str:
    """``text`` as an artifact key (Prefect takes lowercase letters, digits and dashes)."""
    return re.sub(r"-+", "-", re.sub(r"[^a-z0-9-]", "-", text.lower())).strip("-") or "result"


def shown_value(value: Any) -> str:
    """A value as a table cell: numbers to 6 significant digits, arrays by dtype and shape."""
    if isinstance(value, float):
        return f"{value:.6g}"
    shape, dtype = getattr(value, "shape", None), getattr(value, "dtype", None)
    if shape is not None and dtype is not None and shape != ():
        return f"{type(value).__name__} {dtype} {tuple(shape)}"
    if hasattr(value, "item") and shape == ():
        return shown_value(value.item())
    text = str(value)
    return text if len(text) <= 200 else text[:197] + "..."


def publish_result(result: Any, units: dict[str, Optional[str]]) -> None:
    """The run's outputs on its own page: one table artifact (output, value, units) whose card
    says the result's key -- the 12 digits the logs show and the whole 64 -- how to look it up,
    and links to its files."""
    rows = [{"output": name, "value": shown_value(value), "units": units.get(name) or ""} for name, value in result.outputs.items()]
    lines = [
        f"**{result.model} {result.version}**: result `{result.key[:12]}` "
        f"(`lume-prefect results show {result.key[:12]}`)",
        "",
        f"Key: `{result.key}`",
    ]
    for ref in result.files:
        lines.append(f"- file [{ref.path}]({ref.url}) ({ref.size} bytes)" if ref.url else f"- file `{ref.path}` ({ref.size} bytes)")
    create_flow_run_artifact("table", artifact_key(f"{result.model}-outputs"), json.dumps(rows, allow_nan=False, default=str), "\n".join(lines))


def publish_plot(png: bytes, key: str, caption: str, table: dict[str, list[Any]], count: int, shown: int, location: str = "") -> None:
    """The plot as a markdown artifact whose card shows the image, and its values as a table."""
    image = f"![{caption}](data:image/png;base64,{base64.b64encode(png).decode()})"
    saved = f"\n\nSaved to `{location}`" if location else ""
    create_flow_run_artifact("markdown", key, f"## {caption}\n\n{image}\n\n{count} results{saved}", image)
    create_flow_run_artifact(
        "table", f"{key}-data", json.dumps(table, allow_nan=False), f"Plotted values of {caption} (first {shown} of {count} results)"
    )
