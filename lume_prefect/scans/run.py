"""``run_scan``: many points through one model version, in batches, with one cache lookup
and one bulk insert per batch -- as a function, a Prefect flow and a Prefect task."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Optional

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from lume_prefect.models.cancellation import cancelled_not_crashed
from lume_prefect.models.lookup import registered_version
from lume_prefect.scans.batch import Batch, Outcome
from lume_prefect.scans.errors import FailedPoint, ScanFailed, ScanStoreError, WorkerDied
from lume_prefect.scans.executors import (
    Executor,
    batch_size_for,
    check_dask,
    check_executor,
    check_scan_timeout,
    check_workers,
    default_workers,
    run_as_deployments,
    run_in_process,
    run_on_slurm,
    run_in_pool,
    runner_workers,
    task_runner,
)
from lume_prefect.scans.points import as_points, check_max_points, check_points
from lume_prefect.scans.progress import ScanProgress
from lume_prefect.scans.result import ScanResult

if TYPE_CHECKING:
    import pandas
    from prefect_dask import DaskTaskRunner

    from lume_prefect.results.result import Result
    from lume_prefect.services import LumeServices
    from lume_prefect.slurm.blocks import SlurmCluster


def run_scan(
    model: str,
    points: Any,
    version: Optional[str] = None,
    *,
    services: LumeServices | str | None = None,
    executor: Executor = "in-process",
    batch_size: Optional[int] = None,
    workers: Optional[int] = None,
    address: Optional[str] = None,
    dask: DaskTaskRunner | None = None,
    slurm: SlurmCluster | str | None = None,
    job: Any = None,
    timeout: Optional[float] = None,
    refresh: bool = False,
    raise_on_failure: bool = False,
    tags: Sequence[str] = (),
    plot: Optional[dict[str, Any]] = None,
    progress: Optional[bool] = None,
    max_points: Optional[int] = None,
) -> ScanResult:
    """Run model ``model`` (its live version unless ``version``) on every point of ``points``.

    ``points``: a list of input dicts, a grid ``{"k1": [...], "k2": [...]}`` (Cartesian
    product), a DataFrame, or a CSV/Parquet path. Every point is checked against the version's
    spec before anything runs (InvalidPoints lists every bad point). Points already stored are
    not recomputed unless ``refresh`` (one query per 2,000 keys); the others run in batches,
    one Prefect task run each, and each batch is stored with one bulk insert as it completes.
    A vectorized model (``ModelSpec(vectorized=True)``, a LUME surrogate) in this process is
    called once with every point to compute (batches of at most 100,000 points); otherwise
    batches are ``batch_size`` points, by default a tenth of the points (at least 100) in
    this process and four batches per worker elsewhere.

    ``executor``: ``in-process`` (default), ``processes`` (a local process pool of ``workers``),
    ``dask`` (through prefect-dask's DaskTaskRunner: a local cluster of ``workers``, the
    scheduler at ``address``, or the cluster of ``dask``, a configured ``DaskTaskRunner``, e.g.
    ``DaskTaskRunner(cluster_class="dask_jobqueue.SLURMCluster", cluster_kwargs={...},
    adapt_kwargs={"maximum": 10})``; its workers run only the model's plain function),
    ``slurm`` (one job array on ``slurm``, default the services' cluster; ``job``: resource
    options) or ``deployment`` (each batch a run of the version's deployment, ``workers`` at once).

    A point whose model call raises is recorded in ``ScanResult.failures`` and the scan goes
    on; ``raise_on_failure`` raises ScanFailed at the end instead (the others are stored).
    ``timeout``: seconds each batch may run, on the executors that can stop one: ``in-process``
    (the batch is interrupted) and ``deployment`` (its flow run is cancelled); the batch's
    points are then failures (TimeoutError) and the scan goes on. Other executors refuse it.
    More than ``max_points`` points (default ``MAX_POINTS``, a million) is refused before the
    points are built (TooManyPoints); pass a larger ``max_points`` to run such a scan.
    ``plot``: e.g. ``{"y": "rms_x", "x": "sigma_x"}`` publishes a plot artifact. Progress is a
    terminal bar when stderr is a terminal (``progress`` forces it on or off) and a progress
    artifact of the flow run.

    Examples:
        ```python
        from lume_prefect import run_scan

        scan = run_scan("toy-beam", {"sigma_x": [1e-3, 2e-3, 4e-3], "drift_m": [1.0, 2.0]})
        scan.frame[["inputs.sigma_x", "inputs.drift_m", "outputs.rms_x"]]
        ```
    """
    return scan_flow(
        model, points, version, services=services, executor=executor, batch_size=batch_size, workers=workers,
        address=address, dask=dask, slurm=slurm, job=job, timeout=timeout, refresh=refresh, raise_on_failure=raise_on_failure,
        tags=tags, plot=plot, progress=progress, max_points=max_points,
    )


# Plans waiting for their flow run, by scan id. The flow's parameters stay small and plain
# (the API records them); the plan, with its store and thousands of points, stays in this process.
_plans: dict[str, _Plan] = {}


@flow(name="lume-scan", validate_parameters=False, log_prints=True, flow_run_name="scan {model} {version}",
      on_crashed=[cancelled_not_crashed])  # a cancelled scan ends Cancelled, as a model run does
def _scan_flow(scan_id: str, model: str, version: str, executor: str, points: int) -> dict[str, Any]:
    # The flow returns the summary; the ScanResult (thousands of rows Prefect would walk) stays on the plan.
    plan = _planned(scan_id)
    plan.result = plan.run()
    return plan.result.summary()


def _planned(scan_id: str) -> _Plan:
    return _plans[scan_id]


def scan_flow(model: str, points: Any, version: Optional[str] = None, **options: Any) -> ScanResult:
    """``run_scan`` as one Prefect flow run (a subflow inside a flow run); see ``run_scan``.

    Points are checked and the store is asked for cached ones before the flow run starts
    (in this process while the API creates it), so a bad scan fails fast and leaves no flow
    run; the flow run then shows the batches as task runs.
    """
    import gc

    from lume_prefect.models.flows import using_services
    from lume_prefect.models.subflow import run_flow_in_process
    from lume_prefect.results.store import collector_paused

    # A vectorized model in this process: no cyclic garbage collection from the points' check
    # to the returned frame. Thousands of dicts without cycles are made and mostly dropped
    # again; a collection meanwhile would walk them and every object of the process (torch's,
    # Prefect's): 0.1-0.7 s when it fell in a 10,000-point scan. Other in-process scans collect
    # while their batches run (a model called point by point makes garbage of its own), and
    # scans elsewhere are not paused at all (hours of task runs).
    collecting = gc.isenabled()
    with collector_paused() if options.get("executor", "in-process") == "in-process" else contextlib.nullcontext():
        plan = _Plan.make(model, points, version, check=False, **options)
        # In this process the points are checked and looked up while the API creates the flow
        # run (the run is deleted again if they are refused); elsewhere the task runner is sized
        # by the batches, so they are made first.
        meanwhile = plan.check if plan.executor == "in-process" else None
        if meanwhile is None:
            plan.check()
        runner = None if meanwhile else task_runner(plan.executor, plan.workers, plan.address, len(plan.batches), plan.dask)
        scan = _scan_flow if runner is None else _scan_flow.with_options(task_runner=runner)
        _plans[plan.scan_id] = plan
        plan.collect_young = collecting and plan.one_call_here
        try:
            with using_services(plan.env), _collecting() if collecting and not plan.one_call_here else contextlib.nullcontext():
                state = run_flow_in_process(scan, {"scan_id": plan.scan_id, "model": plan.model, "version": plan.version,
                                                   "executor": plan.executor, "points": plan.total}, meanwhile)
                state.result()  # the scan's own error if it failed
                return plan.finished()
        finally:
            del _plans[plan.scan_id]
            plan.settle()


@contextlib.contextmanager
def _collecting() -> Any:
    """Cyclic garbage collection on while the block runs (``scan_flow`` paused it for the plan)."""
    import gc

    if gc.isenabled():
        yield
        return
    gc.enable()
    try:
        yield
    finally:
        gc.disable()


@task(name="run-scan", cache_policy=NO_CACHE, task_run_name="scan {model}")
def run_scan_task(model: str, points: Any, version: Optional[str] = None, **options: Any) -> ScanResult:
    """``run_scan`` as a Prefect task (its scan flow run nested under the task run)."""
    return run_scan(model, points, version, **options)


class _Plan:
    """A checked scan: the version, its points, which are cached, and the batches to run."""

    @classmethod
    def make(
        cls, model: str, points: Any, version: Optional[str], *, services: Any = None, executor: Any = "in-process",
        batch_size: Optional[int] = None, workers: Optional[int] = None, address: Optional[str] = None, dask: Any = None, slurm: Any = None,
        job: Any = None, timeout: Optional[float] = None, refresh: bool = False, raise_on_failure: bool = False,
        tags: Sequence[str] = (), plot: Optional[dict[str, Any]] = None, progress: Optional[bool] = None,
        max_points: Optional[int] = None, check: bool = True,
    ) -> _Plan:
        """The scan's plan: its options and version checked, its points built; with ``check``
        also ``check()`` (else the caller calls it before the plan runs)."""
        from lume_prefect.models.contract import ModelSpec
        from lume_prefect.results.result import storable_tags
        from lume_prefect.core.resolve import resolve

        self = cls()
        self.executor = check_executor(executor, address=address, slurm=slurm, job=job)
        timeout = check_scan_timeout(timeout, self.executor)
        workers = check_workers(workers)
        limit = check_max_points(max_points)
        if isinstance(tags, str):
            raise TypeError(f"tags must be a list of str, got the str {tags!r}")
        tags = storable_tags(list(tags))  # as Result checks them, before anything runs
        self.dask = check_dask(dask, self.executor, address)
        self.env = resolve(services, "services")
        self.started = time.perf_counter()  # the scan's time, not an API's start-up
        self.services_name = services if isinstance(services, str) else getattr(self.env, "_block_document_name", None)
        registry = self.env.registry
        self.registered = registered_version(registry, model, version)
        self.model, self.version = self.registered.model, self.registered.version
        self.spec = ModelSpec.from_parameters_schema(self.registered.parameters_schema, self.model, self.version)
        check_plot(plot, self.spec)
        self.points: Optional[list[dict[str, Any]]] = as_points(self.model, points, limit)
        self.total = len(self.points)  # check() refuses the scan, or keeps every point
        self.scan_id = uuid.uuid4().hex[:12]
        self.tags = [f"scan:{self.scan_id}", *tags]
        self.refresh, self.raise_on_failure, self.plot, self.progress = refresh, raise_on_failure, plot, progress
        self.address, self.slurm, self.job, self.timeout = address, slurm, job, timeout
        self.workers = workers or runner_workers(self.dask) or default_workers(self.executor)
        batch_size_for(1, self.executor, self.workers, batch_size, self.spec.vectorized)  # a bad batch_size refused now
        self.batch_size_given = batch_size
        self.other_process = self.executor != "in-process"
        self.one_call_here = not self.other_process and self.spec.vectorized  # one model call per batch, in this process
        self.store = self.env.results.store()
        self.result: Optional[ScanResult] = None
        self._framing: Optional[_Framing] = None
        self._waits: list[Any] = []  # what ``settle`` waits for: the artifacts' requests
        self.collect_young = False  # set by scan_flow when it paused the collector for this scan
        if check:
            self.check()
        return self

    def check(self) -> None:
        """The points checked and keyed, the cached ones looked up, the batches made: the
        work of a scan before its flow run runs (``scan_flow`` does it while the API creates
        the run). InvalidPoints, or ScanStoreError if the store cannot be read."""
        from lume_prefect.models.particles import particle_inputs, read_particle_refs
        from lume_prefect.results.codec import result_keys
        from lume_prefect.results.store import collector_paused

        points, self.points = self.points, None
        if points is None:
            raise RuntimeError(f"scan {self.scan_id}: its plan is checked once")
        # the FileRefs given of files in the services' block, by the group read: a deployment
        # run is given them, not copies (models.particles)
        self.particle_origins: dict[int, dict[str, Any]] = {}
        if particle_inputs(self.spec):  # FileRefs of particles: keyed by the particles they hold
            read: dict[Any, Any] = {}
            points = [read_particle_refs(self.spec, p, self.env.files, read, self.particle_origins) for p in points]
        with collector_paused():  # a dict per point, no cycles
            self.values = check_points(self.spec, points)
            self.keys = result_keys(self.model, self.version, self.values)
        self.cached: dict[str, Result] = {}
        if not self.refresh:
            try:
                self.cached = self.store.get_many(self.keys)
            except Exception as exc:  # noqa: BLE001 - a store that is down, whatever its driver says
                raise ScanStoreError(repr(self.store), "read", f"{type(exc).__name__}: {exc}") from exc
        # one computation per key: duplicates of a point share its result
        first: dict[str, int] = {}
        for index, key in enumerate(self.keys):
            if key not in self.cached and key not in first:
                first[key] = index
        todo = list(first.values())
        self.batch_size = batch_size_for(len(todo), self.executor, self.workers, self.batch_size_given, self.spec.vectorized)
        self.batches = [
            Batch(number, self.model, self.version, self.registered.entrypoint, self.registered.source, chunk,
                  [self.values[i] for i in chunk], self.services_name if self.other_process else None)
            for number, chunk in enumerate(todo[start : start + self.batch_size] for start in range(0, len(todo), self.batch_size))
        ]

    # ---- inside the scan's flow run -------------------------------------------------------

    def run(self) -> ScanResult:
        from lume_prefect.results.result import current_flow_run_id
        from lume_prefect.results.store import collector_paused

        log = get_run_logger()
        computing = sum(len(b) for b in self.batches)
        cached = sum(1 for key in self.keys if key in self.cached)
        log.info("scan %s of %s %s: %d points, %d cached, %d to compute in %d batches (%s)", self.scan_id, self.model,
                 self.version, self.total, cached, computing, len(self.batches), self.executor)
        self.flow_run_id = current_flow_run_id()
        self.computed: dict[str, Result] = {}
        self.failures: list[FailedPoint] = []
        self.stored, self.unstored, self.store_error = 0, [], None
        # the cached points (and duplicates) are done before the first batch
        progress = ScanProgress(self.total, f"{self.model} {self.version}", self.progress, self.total - computing, len(self.batches))
        # a vectorized model in this process: one call whose garbage is bounded, then a Result
        # per point (dicts without cycles); a full collection would walk them and every object
        # of the process (torch's too), 0.1 s per 10,000 points at best and 0.8 s measured
        paused = collector_paused() if self.one_call_here else contextlib.nullcontext()
        done = False
        try:
            with paused:
                for outcome in self._outcomes():
                    self._keep(outcome)
                    progress.advance(len(self.batches[outcome.number]), f"({len(self.failures)} failed)" if self.failures else "")
            done = True
        except WorkerDied as died:  # the first batch whose worker died; what is stored stays
            raise WorkerDied(died.model, died.batch, died.points, died.cause, self.stored) from None
        finally:
            progress.close(wait=not done)  # done: the artifact's last call is made while the scan finishes
        # the artifacts' last requests are made while the run's final state is sent: ``settle``
        # waits for them before run_scan returns
        self._waits.append(progress.wait)
        if self.store_error is not None:
            raise ScanStoreError(repr(self.store), "write", self.store_error, self.stored, self.unstored)
        with collector_paused():  # one row per point: thousands of dicts, no cycles
            result = self._result()
        self._publish(result)
        log.info("scan %s: %s", self.scan_id, result)
        if self.raise_on_failure and self.failures:
            raise ScanFailed(self.model, self.version, self.failures, result)
        return result

    def settle(self) -> None:
        """Wait for the requests the scan left to threads (its artifacts): made before
        ``run_scan`` returns, whether the scan's run succeeded or not."""
        waits, self._waits = self._waits, []
        for wait in waits:
            wait()

    def finished(self) -> ScanResult:
        """The scan's result, its frame complete (``_result`` may leave it to a thread)."""
        if self.result is None:
            raise RuntimeError(f"scan {self.scan_id}: its flow run ended without a result")
        if self._framing is not None:
            self.result.frame = self._framing.frame()
            self._framing = None
        return self.result

    def _outcomes(self) -> Any:
        if not self.batches:
            return iter(())
        if self.executor == "in-process":
            from lume_prefect.scans.batch import model_function

            return run_in_process(self.batches, model_function(self.registered.entrypoint, self.registered.source),
                                  lambda: self.store_error is not None, self.timeout)
        if self.executor in ("processes", "dask", "slurm"):
            from lume_prefect.scans.batch import prefect_api_here

            api = prefect_api_here()  # the workers' models find saved blocks where the scan does
            for batch in self.batches:
                batch.api = api
        if self.executor in ("processes", "dask"):
            return run_in_pool(self.batches, self.executor, self.workers, self.address, self.dask)
        if self.executor == "slurm":
            cluster = self.slurm or self.env.slurm
            if cluster is None:
                raise ValueError("executor='slurm' needs a SlurmCluster: pass slurm= (a block or its name) or set the services' slurm")
            return run_on_slurm(self.batches, cluster, self.job)
        deployment = self.registered.deployment_name
        if not deployment:
            from lume_prefect.models.errors import NotDeployed

            raise NotDeployed(self.model, self.version)
        if not self.services_name:
            raise ValueError("executor='deployment' needs saved services (by name, or a loaded LumeServices block): the workers load them")
        return run_as_deployments(
            self.batches, deployment, self.services_name, self.workers, self.timeout, scan_tags=self.tags, refresh=self.refresh,
            stored=self.store.get_many, keys_of=lambda batch: [self.keys[i] for i in batch.indices], files=self.env.files,
            given_refs=self.particle_origins,
        )

    def _keep(self, outcome: Outcome) -> None:
        """Store the points one batch computed (one bulk insert) and record its failures."""
        from lume_prefect.results.store import trusted_results

        batch = self.batches[outcome.number]
        ok = [p for p in range(len(batch)) if p not in outcome.errors]
        for position, (kind, message) in outcome.errors.items():
            self.failures.append(FailedPoint(batch.indices[position], batch.points[position], kind, message))
        if outcome.stored is not None:  # stored by the batch's own flow run
            for p in ok:
                self.computed[self.keys[batch.indices[p]]] = outcome.stored[p]
            self.stored += len(ok)
            return
        keys = [self.keys[batch.indices[p]] for p in ok]
        warned = any(v.validation == "warn" for v in self.spec.inputs)  # what a model's warn validation let run
        warnings = [self.spec.input_warnings(batch.points[p]) for p in ok] if warned else None
        try:
            results = trusted_results(self.model, self.version, keys, [batch.points[p] for p in ok], [outcome.outputs[p] for p in ok],
                                      files=[outcome.files[p] for p in ok], tags=self.tags, flow_run_id=self.flow_run_id, warnings=warnings)
        except ValueError:  # an output that cannot be stored: find which, one by one
            results = []
            for p, key in zip(ok, keys):
                try:
                    results += trusted_results(self.model, self.version, [key], [batch.points[p]], [outcome.outputs[p]],
                                               files=[outcome.files[p]], tags=self.tags, flow_run_id=self.flow_run_id,
                                               warnings=[self.spec.input_warnings(batch.points[p])])
                except ValueError as exc:
                    self.failures.append(FailedPoint(batch.indices[p], batch.points[p], type(exc).__name__, str(exc)))
        for result in results:
            self.computed[result.key] = result
        if len(self.batches) == 1 and self._frames_early():
            # the scan's one model call is done: its frame is built by a thread while this one
            # stores the rows (the database's work leaves the interpreter free meanwhile)
            self._framing = _Framing(*self._ordered())
        if self.store_error is None:
            try:
                self.store.insert_many(results, on_duplicate="replace" if self.refresh else "skip")
                self.stored += len(results)
            except Exception as exc:  # noqa: BLE001 - keep what was computed, stop storing, report at the end
                self.store_error = f"{type(exc).__name__}: {exc}"
                get_run_logger().error("scan %s: storing batch %d failed: %s", self.scan_id, outcome.number, self.store_error)
        if self.store_error is not None:
            self.unstored += results

    def _frames_early(self) -> bool:
        """Whether the frame is built by a thread rather than by ``_result``: a scan of one
        model call here, unless the run itself needs the frame (a plot, the ScanFailed it raises)."""
        return self.one_call_here and not self.plot and not (self.raise_on_failure and self.failures)

    def _result(self) -> ScanResult:
        ordered, status = self._ordered()
        seconds = time.perf_counter() - self.started
        # A scan of one model call here has its frame built by a thread (started as its rows
        # are stored, or now), while this thread sends the summary artifact and the run's
        # final state: the frame is only what run_scan returns (``finished``).
        deferred = self._frames_early()
        if deferred and self._framing is None:
            self._framing = _Framing(ordered, status)
        return ScanResult(
            scan_id=self.scan_id, model=self.model, version=self.version, executor=self.executor, keys=self.keys,
            frame=None if deferred else _frame(ordered, status),  # type: ignore[arg-type] # set by finished()
            computed=status.count("computed"), cached=status.count("cached"),
            failures=self.failures, seconds=seconds, batches=len(self.batches), flow_run_id=self.flow_run_id,
        )

    def _ordered(self) -> tuple[list[Any], list[str]]:
        """Each point's Result or FailedPoint, in the order given, and its status; the failures sorted."""
        failed = {f.index: f for f in self.failures}
        ordered: list[Any] = []
        status: list[str] = []
        for index, key in enumerate(self.keys):
            result = self.cached.get(key)
            if result is not None:
                ordered.append(result)
                status.append("cached")
            elif index in failed:
                ordered.append(failed[index])
                status.append("failed")
            else:
                result = self.computed.get(key)
                if result is None:  # a duplicate of a point that failed
                    first = next(f for f in self.failures if self.keys[f.index] == key)
                    ordered.append(FailedPoint(index, self.values[index], first.error_type, first.message))
                    status.append("failed")
                else:
                    ordered.append(result)
                    status.append("computed")
        self.failures = sorted((o for o in ordered if isinstance(o, FailedPoint)), key=lambda f: f.index)
        return ordered, status

    def _publish(self, result: ScanResult) -> None:
        """The summary table artifact and, when asked, the plot artifact of the scan's flow run.

        The summary's request is made by a thread of its own while the run ends (its final
        state is sent meanwhile); ``settle`` waits for it. A summary the API refuses is a
        warning in the run's log: the points are stored, the run is not failed for its display."""
        import contextvars
        import threading

        from prefect.artifacts import create_table_artifact

        summary = result.summary()
        table = [{"what": k, "value": v} for k, v in summary.items()]
        description = (f"Scan {self.scan_id} of {self.model} {self.version}: {result.points} points, {result.cached} cached, "
                       f"{result.computed} computed, {result.failed} failed in {result.seconds:.2f} s")
        log = get_run_logger()

        def send() -> None:
            try:
                create_table_artifact(table=table, key=f"scan-{self.scan_id}", description=description)
            except Exception as exc:  # noqa: BLE001 - a display; the scan's points are stored
                log.warning("scan %s: its summary artifact was not made: %s: %s", self.scan_id, type(exc).__name__, exc)
            if self.collect_young:
                # the scan paused the collector: its young objects (a Result and dicts per
                # point) are examined now, while the run's final state is sent, not by the
                # first collection after the scan (10-30 ms per 10,000 points)
                import gc

                gc.collect(0)

        sender = threading.Thread(target=contextvars.copy_context().run, args=(send,), daemon=True, name="lume-scan-summary")
        sender.start()
        self._waits.append(sender.join)
        if self.plot:
            from lume_prefect.results.tasks import plot_results

            frame = result.frame[result.frame["status"] != "failed"]
            plot_results(data=frame, artifact_key=f"scan-{self.scan_id}-plot", **({"units": self.spec.units()} | self.plot))


PLOT_OPTIONS = ("y", "x", "kind", "title")


def check_plot(plot: Optional[dict[str, Any]], spec: Any) -> None:
    """``plot`` checked against the version's spec before the scan runs, not after: its keys
    (those of ``plot_results``) and the names it plots (declared inputs and outputs)."""
    from lume_prefect.results.plots import PLOT_KINDS

    if plot is None:
        return
    if not isinstance(plot, dict) or "y" not in plot or set(plot) - set(PLOT_OPTIONS):
        raise ValueError(f"plot must be a dict of {', '.join(PLOT_OPTIONS)} with at least y, e.g. {{'y': 'rms_x', 'x': 'sigma_x'}}, got {plot!r}")
    kind = plot.get("kind", "scatter")
    if kind not in PLOT_KINDS:
        raise ValueError(f"plot kind must be one of {', '.join(PLOT_KINDS)}, got {kind!r}")
    if kind != "history" and plot.get("x") is None:
        raise ValueError(f"a {kind} plot needs x (an input or output name): plot={plot!r}")
    names = [v.name for v in (*spec.inputs, *spec.outputs)]
    for axis in ("y", "x") if spec.outputs else ():  # a spec without outputs returns any
        name = plot.get(axis)
        if name is not None and str(name).removeprefix("inputs.").removeprefix("outputs.") not in names:
            raise ValueError(f"plot {axis}={name!r} is not an input or declared output of {spec.name} {spec.version}: one of {', '.join(names)}")


class _Framing:
    """``_frame(ordered, status)`` built by a thread of its own; ``frame`` waits for it and
    raises what the building raised."""

    def __init__(self, ordered: list[Any], status: list[str]):
        import threading

        self._frame: Any = None
        self._error: Optional[BaseException] = None
        self._thread = threading.Thread(target=self._build, args=(ordered, status), daemon=True, name="lume-scan-frame")
        self._thread.start()

    def _build(self, ordered: list[Any], status: list[str]) -> None:
        try:
            self._frame = _frame(ordered, status)
        except BaseException as error:  # noqa: BLE001 - given to the caller of frame()
            self._error = error

    def frame(self) -> pandas.DataFrame:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._frame


def _frame(ordered: list[Any], status: list[str]) -> pandas.DataFrame:
    """One row per point: the columns of ``to_dataframe``, then status and error. Built column
    by column (a scan has thousands of rows); inputs and outputs as pandas reads a list of dicts."""
    import pandas

    from lume_prefect.results.store import BASE_COLUMNS

    columns: dict[str, list[Any]] = {name: [] for name in (*BASE_COLUMNS, "error")}
    key, model, version, created, run, tags, files, error = (columns[name] for name in (
        "key", "model", "version", "created", "flow_run_id", "tags", "files", "error"))
    run_ids: dict[Any, Optional[str]] = {None: None}
    inputs: list[dict[str, Any]] = []
    outputs: list[dict[str, Any]] = []
    for item in ordered:
        if isinstance(item, FailedPoint):
            for column in (key, model, version, created, run):
                column.append(None)
            tags.append([])
            files.append([])
            error.append(f"{item.error_type}: {item.message}")
            inputs.append(item.inputs)
            outputs.append({})
        else:
            fields = item.__dict__
            flow_run_id = fields["flow_run_id"]
            if flow_run_id not in run_ids:
                run_ids[flow_run_id] = str(flow_run_id)
            key.append(item.key)
            model.append(fields["model"])
            version.append(fields["version"])
            created.append(fields["created"])
            run.append(run_ids[flow_run_id])
            tags.append(list(fields["tags"]))
            files.append([ref.url or ref.path for ref in fields["files"]])
            error.append(None)
            inputs.append(fields["inputs"])
            outputs.append(fields["outputs"])
    frame = pandas.DataFrame(columns)
    parts = [frame[BASE_COLUMNS], _dotted(inputs, "inputs", frame.index), _dotted(outputs, "outputs", frame.index)]
    frame = pandas.concat(parts, axis=1)
    frame["status"] = status
    frame["error"] = columns["error"]
    return frame


def _dotted(values: list[dict[str, Any]], prefix: str, index: Any) -> pandas.DataFrame:
    """``values`` as columns ``prefix.name``; nested dicts as dotted names (``flatten``)."""
    import pandas

    from lume_prefect.results.store import flatten

    if any(type(v) is dict and v for point in values for v in point.values()):
        values = [flatten(point, prefix, {}) for point in values]
        prefix = ""
    frame = pandas.DataFrame.from_records(values, index=index) if any(values) else pandas.DataFrame(index=index)
    return frame.add_prefix(f"{prefix}.") if prefix else frame
