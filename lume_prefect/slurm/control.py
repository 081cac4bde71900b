"""Job control: submit, track, wait, cancel and collect, with one scheduler call per poll cycle.

A ``SlurmController`` tracks every job it submitted (or was told to re-attach to). Each poll
cycle asks the scheduler once about all tracked jobs that are not finished yet; waits back
off from ``min_interval`` to ``max_interval`` while nothing changes. A job Slurm has already
forgotten (older than ``MinJobAge``, no accounting database) is settled from the exit-code
file its script wrote, as PSI/J does. No Prefect here.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Optional

from pydantic import BaseModel, Field

from lume_prefect.slurm.errors import JobFailed, SlurmError
from lume_prefect.slurm.job import SlurmJob, check_path, render_script
from lume_prefect.slurm.states import FINAL_STATES, JobStatus, memory_kill
from lume_prefect.slurm.transports import SlurmBackend

#: The exit code a shell records for a command killed by SIGKILL (128 + 9).
SIGKILLED_EXIT = 137

#: Seconds between ``done()`` checks of a wait (file checks, not scheduler calls).
DONE_CHECK = 0.1

#: Growth of the poll interval per cycle, while nothing changed and while something did.
IDLE_BACKOFF, CHANGE_BACKOFF = 1.5, 1.15

#: ``on_progress(done, total, counts)``: finished elements, all elements, elements per Slurm state.
ProgressCallback = Callable[[int, int, dict[str, int]], None]
#: The reason of a job element Slurm does not list (yet): submitted, or unknown to Slurm.
NOT_LISTED = "not yet listed by Slurm"


class SubmittedJob(BaseModel):
    """A job handed to Slurm: its id, where its files are, and its element keys."""

    job_id: str = Field(description="Slurm's job id (the array job id for an array).")
    name: str = Field(description="The job name.")
    output_prefix: str = Field(description="Path prefix of the job's .out/.err/.exit files on the cluster.")
    keys: list[str] = Field(description="One key per element: the job id, or ARRAYID_INDEX for each array element.")
    comment: str = Field(default="", description="The job comment (the flow run id for worker jobs).")

    def file(self, key: str, kind: str) -> str:
        """Path of an element's ``out``, ``err`` or ``exit`` file."""
        return f"{self.output_prefix}.{key}.{kind}"


class JobResult(BaseModel):
    """How one job (or array element) ended, with its output."""

    status: JobStatus = Field(description="The final status, with Slurm's state and reason.")
    exit_code: Optional[int] = Field(default=None, description="The command's exit code, if it got to exit.")
    stdout: str = Field(default="", description="The job's standard output.")
    stderr: str = Field(default="", description="The job's standard error.")

    @property
    def succeeded(self) -> bool:
        return self.status.state == "COMPLETED" and self.exit_code in (0, None)

    def raise_for_state(self) -> "JobResult":
        """Raise ``JobFailed`` with Slurm's state and reason unless the job succeeded."""
        if not self.succeeded:
            raise JobFailed(self.status.job_id, self.status.state, self.status.detail(), self.exit_code)
        return self


class SlurmController:
    """Submits jobs through a backend and follows them to their end.

    Examples:
        ```python
        from lume_prefect.slurm import SlurmController, SlurmJob
        from lume_prefect.slurm.transports import CommandBackend, LocalRunner

        control = SlurmController(CommandBackend(LocalRunner()), working_dir="/scratch/lume")
        job = control.submit(SlurmJob(name="hello", command=["echo", "hello"]))
        [result] = control.wait(job)
        print(result.status.state, result.stdout)
        ```
    """

    def __init__(self, backend: SlurmBackend, working_dir: str, setup: Sequence[str] = (),
                 defaults: Optional[dict[str, str]] = None, min_interval: float = 0.1, max_interval: float = 5.0,
                 progress_after: float = 5.0):
        self.backend = backend
        #: A wait that lasts this many seconds is "long": it gets a progress display.
        self.progress_after = progress_after
        self.working_dir = check_path(working_dir, "working_dir").rstrip("/") or "/"
        self.setup = list(setup)
        self.defaults = {k: v for k, v in (defaults or {}).items() if v}
        self.min_interval, self.max_interval = min_interval, max_interval
        self.interval = min_interval
        self.poll_cycles = 0
        self._jobs: dict[str, SubmittedJob] = {}
        self._final: dict[str, JobStatus] = {}
        self._last: dict[str, JobStatus] = {}
        self._first_missing: dict[str, float] = {}
        self._lock = threading.Lock()
        self._async_lock: Optional[asyncio.Lock] = None
        self._last_poll = 0.0

    # ---- submit ---------------------------------------------------------------

    def prepare(self, job: SlurmJob) -> tuple[SlurmJob, str, str]:
        """The job with the cluster's defaults applied, its output prefix, and its script."""
        updates = {k: v for k, v in self.defaults.items() if getattr(job, k) is None}
        job = job.model_copy(update=updates) if updates else job
        job = SlurmJob.model_validate(job.model_dump())  # defaults are validated like user values
        prefix = f"{self.files_dir(job.working_dir)}/{job.name}-{uuid.uuid4().hex[:10]}"
        return job, prefix, render_script(job, prefix, self.setup)

    def files_dir(self, working_dir: Optional[str] = None) -> str:
        """Where jobs keep their scripts and ``.out``/``.err``/``.exit`` files."""
        return f"{working_dir or self.working_dir}/.lume-slurm"

    def find_job(self, job_id: str) -> Optional[SubmittedJob]:
        """A job submitted into the working directory, rebuilt from its ``.out`` files (one per
        element that started) so that it can be followed by id alone; None without output yet."""
        files = self.backend.find_files(self.files_dir(), [f"*.{job_id}.out", f"*.{job_id}_*.out"])
        if not files:
            return None
        prefixes: dict[str, list[str]] = {}
        for path in files:
            prefix, key = path[: -len(".out")].rsplit(".", 1)
            prefixes.setdefault(prefix, []).append(key)
        prefix, keys = sorted(prefixes.items())[0]
        keys.sort(key=lambda k: [int(p) for p in k.split("_")])
        name = prefix.rsplit("/", 1)[-1].rsplit("-", 1)[0]
        return SubmittedJob(job_id=job_id, name=name, output_prefix=prefix, keys=keys)

    def job_by_id(self, job_id: str) -> SubmittedJob:
        """A job known only by its id (no files): Slurm's state, and nothing else, can be had."""
        return SubmittedJob(job_id=job_id, name="", output_prefix=f"{self.files_dir()}/unknown-{job_id}", keys=[job_id])

    def submit(self, job: SlurmJob) -> SubmittedJob:
        """Submit ``job`` and start tracking it."""
        job, prefix, script = self.prepare(job)
        job_id = self.backend.submit(script, job, prefix)
        keys = [f"{job_id}_{i}" for i in job.array_indices()] or [job_id]
        submitted = SubmittedJob(job_id=job_id, name=job.name, output_prefix=prefix, keys=keys, comment=job.comment or "")
        self.track(submitted)
        return submitted

    def track(self, job: SubmittedJob) -> None:
        """Follow a job submitted earlier (e.g. by a worker before it restarted)."""
        with self._lock:
            self._jobs[job.job_id] = job
            self.interval = self.min_interval

    # ---- status -----------------------------------------------------------------

    def poll(self) -> dict[str, JobStatus]:
        """One scheduler call for every unfinished tracked job; returns the latest status of every element."""
        with self._lock:
            pending = [job for job in self._jobs.values() if any(k not in self._final for k in job.keys)]
            if pending:
                seen = self.backend.query([job.job_id for job in pending])
                self.poll_cycles += 1
                changed = False
                for job in pending:
                    for key in job.keys:
                        if key in self._final:
                            continue
                        status = seen.get(key) or self._collapsed(seen, job, key)
                        if status is None:
                            status = self._settle_forgotten(job, key)
                            if status is None:
                                continue
                        if status.is_final:
                            status = self._with_exit_code(job, key, status)
                            self._final[key] = status
                        if self._last.get(key) != status:
                            changed = True
                        self._last[key] = status
                # Back off while nothing changes; keep backing off, more gently, while elements
                # finish one after another, so a 100-element array is not polled at the minimum
                # interval for its whole life (track() and cancel() reset it to the minimum).
                self.interval = min(self.max_interval, self.interval * (CHANGE_BACKOFF if changed else IDLE_BACKOFF))
            self._last_poll = time.monotonic()
            return dict(self._last)

    @staticmethod
    def _collapsed(seen: dict[str, JobStatus], job: SubmittedJob, key: str) -> Optional[JobStatus]:
        # slurmrestd lists pending array elements as one record under the array's own id.
        record = seen.get(job.job_id)
        if record is not None and "_" in key and not record.is_final:
            return record.model_copy(update={"job_id": key})
        return None

    def _settle_forgotten(self, job: SubmittedJob, key: str) -> Optional[JobStatus]:
        code = self._exit_code(job, key)
        if code is not None:
            return JobStatus(job_id=key, state="COMPLETED" if code == 0 else "FAILED", exit_code=code, name=job.name, comment=job.comment)
        # Give a just-submitted job a moment to appear; then it is lost.
        first = self._first_missing.setdefault(key, time.monotonic())
        if time.monotonic() - first < 10:
            return None
        return JobStatus(job_id=key, state="LOST", reason="unknown to Slurm and no exit-code file", name=job.name, comment=job.comment)

    def _exit_code(self, job: SubmittedJob, key: str) -> Optional[int]:
        text = self.backend.read_text(job.file(key, "exit"))
        try:
            return int(text.strip()) if text else None
        except ValueError:
            return None

    def _with_exit_code(self, job: SubmittedJob, key: str, status: JobStatus) -> JobStatus:
        if status.exit_code is None and status.state in ("COMPLETED", "FAILED"):
            code = self._exit_code(job, key)
            if code is not None:
                status = status.model_copy(update={"exit_code": code})
        if status.state == "FAILED" and (status.exit_code is None or status.signal or status.exit_code == SIGKILLED_EXIT):
            # Killed by a signal: was it Slurm's memory limit? slurmstepd (proctrack/linuxproc) kills
            # the step's processes one by one, so under load the batch script may outlive its
            # killed command long enough to record exit code 137, or escape the kill entirely.
            status = memory_kill(status, self.backend.read_text(job.file(key, "err")))
        return status

    def status(self, job: SubmittedJob) -> list[JobStatus]:
        """Current status of each element of ``job`` (one poll cycle unless all are final)."""
        self.track(job)
        statuses = self.poll()
        return [statuses.get(key) or JobStatus(job_id=key, state="PENDING", reason=NOT_LISTED) for key in job.keys]

    def final_status(self, job: SubmittedJob) -> list[JobStatus]:
        """The final status of each element of a finished job."""
        if not self.is_finished(job):
            raise SlurmError(f"job {job.job_id} has not finished")
        return [self._final[key] for key in job.keys]

    def is_finished(self, job: SubmittedJob) -> bool:
        return all(key in self._final for key in job.keys)

    # ---- wait -------------------------------------------------------------------

    def wait(self, *jobs: SubmittedJob, timeout: Optional[float] = None, progress: Optional[bool] = None,
             on_progress: Optional[ProgressCallback] = None, stop: Optional[Callable[[], bool]] = None,
             done: Optional[Callable[[], bool]] = None) -> list[JobResult]:
        """Block until every element of ``jobs`` is final; returns their results in order.

        Long waits show their progress; short ones stay quiet. A wait becomes long after
        ``progress_after`` seconds (at once with ``progress=True``). From then on:

        - a live bar of finished elements and their states is drawn on stderr, when stderr is a
          terminal (``progress=None``, the default), always (``True``) or never (``False``);
        - ``on_progress(done, total, counts)`` is called whenever the counts change, so its last
          call reports every element finished (the Prefect tasks show it as a progress artifact).

        ``stop()`` is asked every cycle; when it is true the wait ends with ``SlurmError`` (the
        Prefect tasks pass their task runner's cancel signal, and cancel the jobs).

        ``done()`` is asked every ``DONE_CHECK`` seconds between the scheduler polls, which keep
        their own backoff: when it is true the wait ends at once, returning each element's latest
        status, final or not. It is for callers whose own files say that the work is over (the
        Python tasks' result files), so they need not wait for the next poll to see it.
        """
        for job in jobs:
            self.track(job)
        started = time.monotonic()
        deadline = None if timeout is None else started + timeout
        total = sum(len(j.keys) for j in jobs)
        display = _Progress(total, progress)
        long_wait = progress is True
        reported: Optional[dict[str, int]] = None
        try:
            while True:
                if time.monotonic() - self._last_poll >= self.interval * 0.99:
                    self.poll()
                finished = all(self.is_finished(job) for job in jobs)
                long_wait = long_wait or time.monotonic() - started >= self.progress_after
                if long_wait and (progress is not False or on_progress is not None):
                    counts = self._counts(jobs)
                    display.update(counts)
                    if on_progress is not None and counts != reported:
                        on_progress(sum(n for state, n in counts.items() if state in FINAL_STATES), total, counts)
                        reported = counts
                if finished:
                    return [result for job in jobs for result in self.collect(job)]
                if deadline is not None and time.monotonic() > deadline:
                    raise TimeoutError(f"jobs {', '.join(j.job_id for j in jobs)} not finished after {timeout} s")
                if stop is not None and stop():
                    raise SlurmError(f"stopped waiting for jobs {', '.join(j.job_id for j in jobs)}: the task run was cancelled")
                if not threading.main_thread().is_alive():
                    # The program is exiting (its main thread ended, e.g. on SIGTERM or Ctrl-C)
                    # while this thread waits: stop, so the caller can cancel what it submitted.
                    raise SlurmError(f"the program is exiting: stopped waiting for jobs {', '.join(j.job_id for j in jobs)}")
                if done is not None and done():
                    if long_wait and (progress is not False or on_progress is not None):
                        counts = {"DONE": total}  # the caller's files say so; Slurm may still say RUNNING
                        display.update(counts)
                        if on_progress is not None:
                            on_progress(total, total, counts)
                    return [self._latest(job, key) for job in jobs for key in job.keys]
                time.sleep(self.interval if done is None else min(DONE_CHECK, self.interval))
        finally:
            display.close()

    def _latest(self, job: SubmittedJob, key: str) -> JobResult:
        status = self._final.get(key) or self._last.get(key) or JobStatus(job_id=key, state="PENDING", reason="not yet listed by Slurm")
        return JobResult(status=status, exit_code=status.exit_code)

    async def await_finished(self, job: SubmittedJob, timeout: Optional[float] = None) -> list[JobStatus]:
        """Async wait for one job; concurrent waiters share one scheduler call per poll cycle."""
        from anyio import to_thread

        self.track(job)
        if self._async_lock is None:
            self._async_lock = asyncio.Lock()
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.is_finished(job):
            async with self._async_lock:
                # Another waiter may have polled while this one slept: reuse its answer.
                if not self.is_finished(job) and time.monotonic() - self._last_poll >= self.interval * 0.9:
                    await to_thread.run_sync(self.poll)
            if self.is_finished(job):
                break
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"job {job.job_id} not finished after {timeout} s")
            await asyncio.sleep(self.interval)
        return [self._final[key] for key in job.keys]

    def _counts(self, jobs: Iterable[SubmittedJob]) -> dict[str, int]:
        counts: dict[str, int] = {}
        for job in jobs:
            for key in job.keys:
                state = self._last[key].state if key in self._last else "PENDING"
                counts[state] = counts.get(state, 0) + 1
        return counts

    # ---- cancel and collect -----------------------------------------------------

    def cancel(self, *jobs: SubmittedJob | str) -> dict[str, str]:
        """Cancel jobs (objects or ids) with one scheduler call; returns the ids Slurm reported
        it did not cancel, each with why ("unknown" or "finished")."""
        not_cancelled = self.backend.cancel([job.job_id if isinstance(job, SubmittedJob) else str(job) for job in jobs])
        self.interval = self.min_interval
        return not_cancelled or {}

    def collect(self, job: SubmittedJob) -> list[JobResult]:
        """Final status, exit code, stdout and stderr of each element of a finished job."""
        results = []
        for key in job.keys:
            status = self._final.get(key)
            if status is None:
                raise SlurmError(f"job {key} has not finished: wait for it before collecting its output")
            results.append(JobResult(
                status=status,
                exit_code=status.exit_code,
                stdout=self.backend.read_text(job.file(key, "out")) or "",
                stderr=self.backend.read_text(job.file(key, "err")) or "",
            ))
        return results

    def forget(self, job: SubmittedJob) -> None:
        """Stop tracking a job (its results stay on the cluster)."""
        with self._lock:
            self._jobs.pop(job.job_id, None)
            for key in job.keys:
                self._final.pop(key, None)
                self._last.pop(key, None)
                self._first_missing.pop(key, None)

    def close(self) -> None:
        self.backend.close()


class _Progress:
    """A rich progress bar of finished elements on stderr, started on its first update.

    ``show=None`` draws it only when stderr is a terminal (rich's check, which honours
    ``TTY_COMPATIBLE``/``FORCE_COLOR``); ``True`` always; ``False`` never."""

    def __init__(self, total: int, show: Optional[bool]):
        self.total, self.show = total, show
        self._progress = None
        self._task = None

    def update(self, counts: dict[str, int]) -> None:
        if self.show is False:
            return
        if self._progress is None:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            console = Console(stderr=True)
            if self.show is None and not console.is_terminal:
                self.show = False
                return
            self._progress = Progress(TextColumn("Slurm jobs"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"),
                                      TimeElapsedColumn(), console=console, transient=False)
            self._progress.start()
            self._task = self._progress.add_task("", total=self.total)
        done = sum(n for state, n in counts.items() if state in FINAL_STATES or state == "DONE")
        summary = " ".join(f"{state.lower()}={n}" for state, n in sorted(counts.items()))
        self._progress.update(self._task, completed=done, description=summary)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
