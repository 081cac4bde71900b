"""A cancelled model run ends Cancelled, also when Prefect stops it as if it crashed.

Prefect 3.9 cancels a worker's flow run in two steps: the runner sends a "cancel" intent to the
run's process over its control channel, waits up to 1 s for an acknowledgement, then sends
SIGTERM. Without the acknowledgement (the process has not connected yet, or it did not answer
within the second on a loaded machine) the SIGTERM is taken for a crash: the flow engine
proposes Crashed ("Execution was aborted by a termination signal.") with ``force=True``, past
the server's rule that a Cancelling run may only become Cancelled, and the runner then leaves
the run Crashed ("finalized as CRASHED instead of Cancelled").

Every model flow, and the scan (``lume-scan``), comparison (``lume-compare``) and pipeline
(``lume-pipeline``) flows, have ``cancelled_not_crashed`` as an ``on_crashed`` hook: a crash by a
termination signal of a run that was Cancelling when it came is the cancellation itself, and
is recorded as Cancelled. So is the crash of a subflow run (the scan of a comparison, a
pipeline's step) by the termination signal when a flow run above it was Cancelling: the signal
stopped the whole process, the cancel of its ancestor. Any other crash (the process died, was
killed without a cancel request) stays Crashed.
"""

from __future__ import annotations

from typing import Any

TERMINATION_SIGNAL = "termination signal"  # in Prefect's message of a crash by SIGTERM


def cancelled_not_crashed(flow: Any, flow_run: Any, state: Any) -> None:
    """``on_crashed`` hook: the run becomes Cancelled if the crash is the termination signal of a
    cancel requested before it (the state before this Crashed is Cancelling)."""
    if TERMINATION_SIGNAL not in (state.message or ""):
        return
    from prefect.client.orchestration import get_client
    from prefect.states import Cancelled

    with get_client(sync_client=True) as client:
        history = sorted(client.read_flow_run_states(flow_run.id), key=lambda s: s.timestamp)
        if not history or not history[-1].is_crashed():
            return
        if len(history) >= 2 and history[-2].is_cancelling():
            requested = history[-2].message or "Flow run was cancelled."
            message = f"{requested} (its process was stopped before it acknowledged the cancel)"
        else:
            ancestor = _cancelled_ancestor(client, flow_run)
            if ancestor is None:
                return
            message = f"Its parent flow run {ancestor.name!r} ({ancestor.id}) was cancelled: the signal stopped its process."
        client.set_flow_run_state(flow_run.id, Cancelled(message=message), force=True)


MAX_NESTING = 16  # flow runs above a subflow run that are looked at


def _cancelled_ancestor(client: Any, flow_run: Any) -> Any:
    """The nearest flow run above ``flow_run`` (parent, grandparent ...) that is Cancelling or
    Cancelled; None if there is none."""
    run = flow_run
    for _ in range(MAX_NESTING):
        if run.parent_task_run_id is None:
            return None
        parent = client.read_flow_run(client.read_task_run(run.parent_task_run_id).flow_run_id)
        if parent.state is not None and (parent.state.is_cancelling() or parent.state.is_cancelled()):
            return parent
        run = parent
    return None
