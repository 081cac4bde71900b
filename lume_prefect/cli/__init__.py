"""The ``lume-prefect`` command: one sub-command group per service, each loaded on first use."""

from __future__ import annotations

from cyclopts import App

app = App(
    name="lume-prefect",
    help="Services for scientific model workflows on Prefect 3: files, models, results, Slurm.",
    version_flags=["--version"],
)
app.command("lume_prefect.cli.files:app", name="files", help="Files in a saved file block: put, get, ls, info, rm; prune-inputs.")
app.command("lume_prefect.cli.models:app", name="models", help="Models in the registry: list, show, versions, register, promote, revert, history.")
app.command("lume_prefect.cli.registry:app", name="registry", help="The registry itself: its schema status and upgrade; copy to another registry (SQL, MLflow).")
app.command("lume_prefect.cli.results:app", name="results", help="Stored results: list, show, export, plot, reproduce.")
app.command("lume_prefect.cli.slurm:app", name="slurm", help="Slurm jobs through a saved SlurmCluster: submit, status, wait, cancel, output.")
app.command("lume_prefect.cli.profiles:app", name="profiles", help="Block documents as code: show and apply a profile (local, dev, prod).")
app.command("lume_prefect.cli.runs:deploy", name="deploy", help="Register a model version and create its Prefect deployment.")
app.command("lume_prefect.cli.runs:run", name="run", help="Run a model (its live version unless --version) and print its outputs.")
app.command("lume_prefect.cli.scan:scan", name="scan", help="Scan a model over a grid or a file of points: batched, cached, stored.")
app.command("lume_prefect.cli.compare:compare", name="compare", help="Compare two models (a surrogate and its physics model, two versions) on the same points.")
app.command("lume_prefect.cli.runs:pipelines", name="pipelines", help="Pipelines (flows of flows): register and run.")


def main() -> None:
    """Run the command; an error no command handled is one line and exit code 1 (see cli/errors.py)."""
    import os

    # The embedded server's telemetry cannot reach the internet from most control rooms, and on
    # a fresh database it races the migrations ("database is locked" tracebacks); a user who
    # wants it sets the variable.
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # Prefect gives its temporary server 20 s to start; on a busy login node it needs more
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
    _say_once_when_a_temporary_server_starts()
    try:
        # cyclopts' parse errors (a 3-line box by default) take the one-line path below too
        app(print_error=False, exit_on_error=False)
    except Exception as exc:  # noqa: BLE001 - the last line of defence: every error gets one line
        from lume_prefect.cli.errors import DEBUG_ENV, one_line
        from lume_prefect.cli.output import fail

        if os.environ.get(DEBUG_ENV) == "1":
            raise
        fail(one_line(exc))
    finally:
        _flush_prefect_events()


TEMPORARY_SERVER = (
    "no Prefect server configured (PREFECT_API_URL): a temporary one starts for this command and stops after it; "
    "to keep one: `prefect server start`, then `prefect config set PREFECT_API_URL=http://127.0.0.1:4200/api`"
)


def _say_once_when_a_temporary_server_starts() -> None:
    """Prefect's two lines on starting its temporary server (and one on stopping it) become one
    line saying why it starts and how to have a real one. Store-only commands never start it
    (``core.saved_blocks``); run, scan and deploy do, when no API is configured."""
    import logging

    def rewrite(record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message.startswith("Stopping temporary server"):
            return False
        if message.startswith("Starting temporary server"):
            record.msg, record.args = TEMPORARY_SERVER, ()
        return True

    logging.getLogger("prefect").addFilter(rewrite)  # Prefect's server logger is "prefect" itself


def _flush_prefect_events(timeout: float = 10.0, stalled: float = 2.0) -> None:
    """Let Prefect send the events a command emitted before the interpreter exits.

    At exit Prefect stops its events worker with items still queued, and then warns "Still
    processing items" after every command; waiting for the queue first makes that quiet. A queue
    that stops moving (a server that does not answer) is left to Prefect's own exit handling,
    so a failing command is not held up for the whole timeout.
    """
    import sys
    import time

    worker = sys.modules.get("prefect.events.worker")
    if worker is None:  # the command never touched Prefect
        return
    deadline = time.monotonic() + timeout
    for service in list(getattr(worker.EventsWorker, "_instances", {}).values()):
        pending = getattr(service, "_queue", None)
        last, moved = None, time.monotonic()
        while pending is not None and pending.unfinished_tasks and time.monotonic() < deadline:
            if pending.unfinished_tasks != last:
                last, moved = pending.unfinished_tasks, time.monotonic()
            elif time.monotonic() - moved > stalled:
                break
            time.sleep(0.02)
