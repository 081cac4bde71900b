"""A flow run whose process is killed ends Crashed on the Prefect server within a bounded time
(the heartbeat automation of models/zombies.py), against a real ``prefect server start``."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid

import pytest

from tests.components import prefect_api_at, venv_script
from tests.models.conftest import temp_services, write_version
from tests.models.test_in_process_engine import heartbeat_events

HEARTBEAT_SECONDS = 30  # Prefect's least interval
# the documented bound (MISSED_HEARTBEATS intervals after the last heartbeat, plus the server's
# 5 s evaluation step) and room for a loaded machine's event pipeline
BOUND = 2 * HEARTBEAT_SECONDS + 5 + 25


def flow_runs_of(client, flow_name: str):
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName

    return client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=[flow_name])))


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"{what}: not after {timeout:.0f} s")


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_a_run_whose_process_is_killed_ends_crashed_within_the_documented_bound(prefect_server, tmp_path):
    from prefect.client.orchestration import get_client

    from lume_prefect.models.deploy import register_model_version
    from lume_prefect.models.zombies import automation_name

    model = f"sleepy-{uuid.uuid4().hex[:6]}"
    source = write_version(tmp_path / "v1", "1.0.0", body='__import__("time").sleep(600)')
    (source / "model.py").write_text((source / "model.py").read_text().replace('name="toy-beam"', f'name="{model}"'))
    services_name = f"zombie-{uuid.uuid4().hex[:6]}"
    with prefect_api_at(prefect_server.api_url):
        services = temp_services(tmp_path / "home")
        services.save(services_name, _sync=True)
        assert register_model_version("model.py:toy_beam", str(source), services=services)

    env = {**prefect_server.env, "PREFECT_HOME": str(tmp_path / "client-home"), "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": str(HEARTBEAT_SECONDS)}
    output = open(tmp_path / "run.log", "wb")
    runner = subprocess.Popen([venv_script("lume-prefect"), "run", model, "--version", "1.0.0", "--services", services_name], env=env,
                              stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        with prefect_api_at(prefect_server.api_url), get_client(sync_client=True) as client:
            def running():
                assert runner.poll() is None, (tmp_path / "run.log").read_text()
                return next((r for r in flow_runs_of(client, model) if r.state and r.state.is_running()), None)

            run = wait_for(running, 180, "a Running flow run")
            # the run's first heartbeat follows the automation, which this server did not have
            # (before, it raced the automation's creation and, evaluated first, opened no window)
            wait_for(lambda: client.read_automations_by_name(automation_name(HEARTBEAT_SECONDS)), 60, "the automation")
            wait_for(lambda: heartbeat_events(str(run.id), wait=0), 60, "the run's first heartbeat on the server")
            os.killpg(runner.pid, signal.SIGKILL)
            killed = time.monotonic()
            runner.wait(timeout=30)
            state = wait_for(lambda: (s := client.read_flow_run(run.id).state) is not None and s.is_crashed() and s, BOUND + 30, "Crashed")
            took = time.monotonic() - killed
            print(f"Crashed {took:.0f} s after the kill")
            assert took <= BOUND, f"Crashed {took:.0f} s after the kill"
            assert "no heartbeat" in (state.message or "")
    finally:
        if runner.poll() is None:
            os.killpg(runner.pid, signal.SIGKILL)
