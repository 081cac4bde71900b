"""Evaluating a scan's batch in another process: import the model from its source, then run
``models.batch.evaluate_points`` (what a process pool, a Dask worker and a Slurm element do)."""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Callable
from typing import Any, Optional
from urllib.parse import urlsplit

from lume_prefect.core.errors import portable
from lume_prefect.files.fileref import FileRef
from lume_prefect.models.batch import Batch, Outcome, evaluate_points

__all__ = ["Batch", "Outcome", "evaluate_batch", "evaluate_points", "follow_api", "model_function", "prefect_api_here", "worker_function"]


def model_function(entrypoint: str, source: str) -> Callable[[dict[str, Any]], tuple[dict[str, Any], list[FileRef]]]:
    """The checked call of the model at ``entrypoint`` of ``source`` (imported once per process)."""
    from lume_prefect.models.flows import plain_function
    from lume_prefect.models.loading import load_model_flow
    from lume_prefect.models.plain import ModelCall

    return ModelCall(*plain_function(load_model_flow(entrypoint, source)))


def worker_function(entrypoint: str, source: str) -> Callable[[dict[str, Any]], tuple[dict[str, Any], list[FileRef]]]:
    """``model_function`` in a worker process: the model imported without its flow, so without
    Prefect (a second of a fresh process); as its flow if it needs that to be imported."""
    from lume_prefect.models.errors import FlowNeeded
    from lume_prefect.models.plain import ModelCall, load_model_function

    try:
        spec, fn = load_model_function(entrypoint, source)
    except FlowNeeded:
        return model_function(entrypoint, source)
    return ModelCall(spec, fn)


def prefect_api_here() -> Optional[tuple[str, str]]:
    """(URL of the Prefect API this process talks to, this host), or None when unknown.

    With no ``PREFECT_API_URL`` Prefect starts a temporary server in the process that needs
    one, and only that process knows its URL: a worker spawned by a scan would find saved
    blocks through its own environment or profile, and start a temporary server of its own
    (5-60 s, and a timeout on a busy machine) when it cannot read them without one. Inside the
    scan's flow run the run's client knows the URL, whichever server it is; outside a run (an
    Xopt evaluator) a client says it, the process's temporary server's once started."""
    from prefect.context import FlowRunContext, TaskRunContext

    context = TaskRunContext.get() or FlowRunContext.get()
    client = getattr(context, "client", None)
    if client is None:
        from prefect.client.orchestration import get_client

        client = get_client(sync_client=True)  # not entered (no connection): only its URL is read
    url = str(client.api_url)
    return (url.rstrip("/"), socket.gethostname()) if url else None


def follow_api(api: Optional[tuple[str, str]]) -> None:
    """In a worker: talk to the scan's Prefect API ``api`` (see ``prefect_api_here``), when it can
    be reached from here: this host is the scan's, or the URL is not a loopback address (a
    temporary server listens on 127.0.0.1 only)."""
    if api is None:
        return
    url, host = api
    loopback = urlsplit(url).hostname in ("127.0.0.1", "localhost", "::1")
    if os.environ.get("PREFECT_API_URL") == url or (host != socket.gethostname() and loopback):
        return
    os.environ["PREFECT_API_URL"] = url
    context = sys.modules.get("prefect.context")
    # Prefect reads its settings once, at import, and a spawned worker has imported it already
    # when the user's script (re-run as __mp_main__) imports lume_prefect at its top
    refresh = getattr(context, "refresh_global_settings_context", None)
    if refresh is not None:
        refresh()


def evaluate_batch(batch: Batch) -> Outcome:
    """Evaluate ``batch`` in this process, importing the model from its source: what a process
    pool, a Dask worker and a Slurm array element run."""
    follow_api(getattr(batch, "api", None))  # a Batch pickled by an older lume-prefect has none
    if batch.services:
        os.environ.setdefault("LUME_SERVICES", batch.services)  # a worker process: models find their file block
    worker = f"{socket.gethostname()}:{os.getpid()}"
    try:
        function = worker_function(batch.entrypoint, batch.source)
    except Exception as exc:
        exc.add_note(f"raised importing model {batch.model} {batch.version} ({batch.entrypoint} in {batch.source}) on worker {worker}")
        # pickle, not cloudpickle: a process pool sends errors with it, and an error class of the
        # model's own module (imported under a private name) cannot be rebuilt by the scan
        carried = portable(exc)
        if carried is exc:
            raise
    else:
        outcome = evaluate_points(batch, function)
        outcome.worker = worker
        return outcome
    raise carried  # outside the except block: no context to drag along (see PortableCall)
