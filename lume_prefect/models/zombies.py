"""A flow run whose process dies (SIGKILL, OOM killer, a lost node) ends Crashed on the server.

Prefect 3.9 sends a ``prefect.flow-run.heartbeat`` event every ``PREFECT_FLOWS_HEARTBEAT_FREQUENCY``
seconds (default 180, at least 30) while a flow runs, but a self-hosted server acts on
silence only through an automation (Prefect's guide "Detect zombie flows"): a proactive
trigger that fires when no heartbeat and no final state follows a heartbeat within a window,
and a Crashed state proposed by its action. The server evaluates proactive triggers every 5 s
(``PREFECT_SERVER_EVENTS_PROACTIVE_GRANULARITY``).

The runs of ``models.subflow`` (run_model in-process, pipelines, scans) label their
heartbeats with their interval and send a last event when they end, and the first run of a
process with a server makes sure that server has the automation for that interval before its
first heartbeat (the server opens a window only for a heartbeat it evaluates with the
automation loaded). A run whose process dies is therefore marked Crashed within
``MISSED_HEARTBEATS`` intervals (plus the 5 s evaluation step) of its last heartbeat the
server received: with the default 180 s, within about 6 min 5 s of the kill; with ``PREFECT_FLOWS_HEARTBEAT_FREQUENCY=30``, within 65 s. Only labelled runs
are matched: a run of Prefect's own engine (on a worker, whose process the worker watches)
and a run with another interval are never crashed by it. The Crashed state is proposed, not
forced: a run that already ended keeps its state.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

HEARTBEAT_LABEL = "lume-prefect.heartbeat-seconds"
ENDED_EVENT = "lume-prefect.flow-run.ended"
MISSED_HEARTBEATS = 2
_ensured: set[tuple[str, int]] = set()  # (API URL, interval) with the automation in place
_lock = threading.Lock()
log = logging.getLogger("lume_prefect.zombies")


def automation_name(seconds: int) -> str:
    return f"lume-prefect: crash flow runs without heartbeats for {MISSED_HEARTBEATS * seconds} s"


def heartbeat_resource(resource: dict[str, str], seconds: int) -> dict[str, str]:
    """The heartbeat event's resource with the interval label the automation matches."""
    return {**resource, HEARTBEAT_LABEL: str(seconds)}


def ensure_zombie_automation(seconds: int) -> None:
    """Create, once per process, API and interval, the automation that proposes Crashed for a
    labelled flow run ``MISSED_HEARTBEATS`` intervals after its last heartbeat, unless the run
    sent its ended event. Called by a run's heartbeat thread before its first heartbeat. A
    server that cannot be asked is logged, not raised: the run goes on."""
    from prefect.client.orchestration import get_client
    from prefect.settings import get_current_settings

    key = (str(get_current_settings().api.url), seconds)
    with _lock:
        if key in _ensured:
            return
        try:
            with get_client(sync_client=True) as client:
                if not client.read_automations_by_name(automation_name(seconds)):
                    client.create_automation(zombie_automation(seconds))
        except Exception as exc:  # noqa: BLE001 - crash detection is best effort; the run is not
            log.warning("could not set up the automation that marks dead flow runs Crashed (%s: %s)", type(exc).__name__, exc)
            return
        _ensured.add(key)


def zombie_automation(seconds: int):  # -> AutomationCore (Prefect is imported lazily)
    from prefect.client.schemas.objects import StateType
    from prefect.events.actions import ChangeFlowRunState
    from prefect.events.schemas.automations import AutomationCore, EventTrigger, Posture
    from prefect.events.schemas.events import ResourceSpecification

    return AutomationCore(
        name=automation_name(seconds),
        description=f"Made by lume-prefect: a flow run whose heartbeats (every {seconds} s) stop for "
                    f"{MISSED_HEARTBEATS * seconds} s before it ends is marked Crashed (its process died).",
        trigger=EventTrigger(
            after={"prefect.flow-run.heartbeat"},
            expect={"prefect.flow-run.heartbeat", ENDED_EVENT},  # the server's state events lack the label
            match=ResourceSpecification({"prefect.resource.id": "prefect.flow-run.*", HEARTBEAT_LABEL: str(seconds)}),
            for_each={"prefect.resource.id"},
            posture=Posture.Proactive,
            threshold=1,
            within=timedelta(seconds=MISSED_HEARTBEATS * seconds),
        ),
        actions=[ChangeFlowRunState(
            state=StateType.CRASHED,
            message=f"no heartbeat for {MISSED_HEARTBEATS * seconds} s: the flow run's process died (lume-prefect's automation)",
        )],
    )
