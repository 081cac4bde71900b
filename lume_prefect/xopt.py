"""Xopt evaluating a registered model through the registry, the cache and the results store.

``ModelEvaluator`` is the ``function`` an ``xopt.Evaluator`` calls: a dict of inputs in, a dict
of outputs out (``vectorized``: a dict of N values per input in, N values per output out).
Each point is looked up in the results store first (a point already computed by the same
model version is not recomputed), else computed and stored with the optimisation's tag, so
``query_results(tags=[evaluator.tag])`` finds every point of the optimisation.

The model version is resolved once and its function imported once: an evaluation in this
process makes no Prefect flow run and no API request. All evaluations belong to one flow run:
the flow run the optimisation runs in (Xopt called inside a ``@flow``), else one flow run
the evaluator opens at its first evaluation and closes in ``close()`` (or at the end of a
``with`` block). Results are inserted in bulk: every ``flush_every`` points, at least every
``flush_seconds``, and at ``close()``.

``executor``: ``in-process`` (default: the model's function in this process, vectorized models
called once per Xopt call), ``processes`` or ``dask`` (a process pool or a Dask cluster kept
for the whole optimisation; each Xopt call a batch), ``slurm`` or ``deployment`` (each Xopt
call a ``run_scan`` on that executor, a subflow when the optimisation runs inside a flow).

Examples:
    ```python
    from xopt import VOCS, Evaluator, Xopt
    from xopt.generators.random import RandomGenerator

    from lume_prefect.xopt import ModelEvaluator

    vocs = VOCS(variables={"sigma_x": [1e-4, 1e-2]}, objectives={"rms_x": "MINIMIZE"})
    with ModelEvaluator("toy-beam") as model:
        X = Xopt(vocs=vocs, evaluator=Evaluator(function=model), generator=RandomGenerator(vocs=vocs))
        X.random_evaluate(5)
    ```
"""

from __future__ import annotations

import atexit
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Optional

from lume_prefect.models.batch import Batch, evaluate_points
from lume_prefect.models.errors import ModelError

__all__ = ["EvaluationFailed", "ModelEvaluator"]

FLUSH_EVERY = 256
FLUSH_SECONDS = 1.0
EXECUTORS = ("in-process", "processes", "dask", "slurm", "deployment")


class EvaluationFailed(ModelError, RuntimeError):
    """Points of an Xopt evaluation failed in the model (Xopt records it as the points' error).
    A single point evaluated in this process raises the model's own error instead."""

    def __init__(self, model: str, version: str, failures: list[str]):
        self.model, self.version, self.failures = model, version, failures
        super().__init__(f"model {model!r} version {version!r}: {len(failures)} point(s) failed: " + "; ".join(failures[:5]))


class ModelEvaluator:
    """The Xopt ``function`` of a registered model version (its live one unless ``version``).

    ``services``: the LumeServices (a block or a saved block's name; default the current ones).
    ``tags``: added to the optimisation's own tag (``evaluator.tag``, ``xopt:<id>``) on every
    stored point. ``refresh``: compute every point even if stored. ``executor`` and
    ``workers``, ``address``, ``dask``, ``slurm``, ``job``: where the points run (module doc).
    """

    def __init__(self, model: str, version: Optional[str] = None, *, services: Any = None, executor: str = "in-process",
                 tags: Sequence[str] = (), refresh: bool = False, workers: Optional[int] = None, flush_every: int = FLUSH_EVERY,
                 flush_seconds: float = FLUSH_SECONDS, **executor_options: Any):
        from lume_prefect.core.resolve import resolve
        from lume_prefect.models.contract import ModelSpec

        if executor not in EXECUTORS:
            raise ValueError(f"executor must be one of {', '.join(EXECUTORS)}, got {executor!r}")
        self.services = resolve(services, "services")
        registry = self.services.registry
        self.registered = registry.get_version(model, version, _sync=True) if version else registry.live_version(model, _sync=True)
        self.model, self.version = self.registered.model, self.registered.version
        self.spec = ModelSpec.from_parameters_schema(self.registered.parameters_schema, self.model, self.version)
        self.id = uuid.uuid4().hex[:12]
        self.tag = f"xopt:{self.id}"
        self.tags = [self.tag, *tags]
        self.executor, self.refresh, self.workers, self.executor_options = executor, refresh, workers, executor_options
        self.store = self.services.results.store()
        self.flush_every, self.flush_seconds = flush_every, flush_seconds
        self.evaluations = 0
        self._call: Any = None
        self._pool: Any = None
        self._pending: dict[str, Any] = {}  # computed Results not stored yet, by key
        self._flushed = time.monotonic()
        self._flow_run_id: Any = None
        self._own_run = False
        self._closed = False
        atexit.register(self.close)

    # ---- what Xopt calls ------------------------------------------------------------

    def __call__(self, inputs: Mapping[str, Any]) -> dict[str, Any]:
        """One point: the model's outputs at ``inputs`` (stored, or computed and stored)."""
        return self._evaluate([dict(inputs)])[0]

    def vectorized(self, inputs: Any) -> dict[str, list[Any]]:
        """Many points (``xopt.Evaluator(function=evaluator.vectorized, vectorized=True)``): ``inputs``
        a dict of N values per input (or a DataFrame, or a list of dicts); N values per output."""
        points = _points(inputs)
        outputs = self._evaluate(points)
        names = list(outputs[0]) if outputs else [v.name for v in self.spec.outputs]
        return {name: [point[name] for point in outputs] for name in names}

    def xopt_evaluator(self, vectorized: bool = False, **options: Any) -> Any:
        """An ``xopt.Evaluator`` calling this model (``vectorized``: a batch of points per call)."""
        from xopt import Evaluator

        return Evaluator(function=self.vectorized if vectorized else self, vectorized=vectorized, **options)

    # ---- the optimisation's flow run and its results ------------------------------

    @property
    def flow_run_id(self) -> Any:
        """The flow run every evaluation belongs to (opened at the first evaluation)."""
        return self._flow_run_id

    def flush(self) -> None:
        """Store the computed points not stored yet (one bulk insert)."""
        if self._pending:
            results = list(self._pending.values())
            self.store.insert_many(results, on_duplicate="replace" if self.refresh else "skip")
            self._pending.clear()
        self._flushed = time.monotonic()

    def close(self, failed: Optional[BaseException] = None) -> None:
        """Store what is pending, stop the workers, and end the evaluator's own flow run."""
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self.close)
        try:
            self.flush()
        finally:
            if self._pool is not None:
                self._pool.close()
            if self._own_run:
                _end_flow_run(self._flow_run_id, self, failed)

    def __enter__(self) -> ModelEvaluator:
        return self

    def __exit__(self, kind: Any, error: Optional[BaseException], traceback: Any) -> None:
        self.close(error)

    def __repr__(self) -> str:
        return f"ModelEvaluator({self.model} {self.version}, {self.executor}, tag {self.tag})"

    # ---- evaluating -------------------------------------------------------------------

    def _evaluate(self, given: list[dict[str, Any]]) -> list[dict[str, Any]]:
        from lume_prefect.results.codec import result_keys

        if self._closed:
            raise RuntimeError(f"{self!r} is closed")
        if self._flow_run_id is None:
            self._open_flow_run()
        points = [self.spec.validate_inputs(p) for p in given]
        keys = result_keys(self.model, self.version, points)
        found: dict[str, Any] = {}
        if not self.refresh:
            found = {k: self._pending[k] for k in keys if k in self._pending}
            missing = [k for k in keys if k not in found]
            if len(missing) == 1:  # what a point-by-point optimisation asks: one indexed lookup
                stored = self.store.get(missing[0])
                if stored is not None:
                    found[missing[0]] = stored
            elif missing:
                found.update(self.store.get_many(missing))
        todo = [i for i, key in enumerate(keys) if key not in found]
        if todo:
            found.update(self._compute([keys[i] for i in todo], [points[i] for i in todo]))
        self.evaluations += len(points)
        if len(self._pending) >= self.flush_every or time.monotonic() - self._flushed > self.flush_seconds:
            self.flush()
        return [found[key].outputs for key in keys]

    def _compute(self, keys: list[str], points: list[dict[str, Any]]) -> dict[str, Any]:
        from lume_prefect.results.store import trusted_results

        if self.executor in ("slurm", "deployment"):
            return self._scan(keys, points)
        if self.executor == "in-process" and len(points) == 1:  # Xopt one by one: the model's call, its own error
            outputs, files = self._model_call()(points[0])
            [result] = trusted_results(self.model, self.version, keys, points, [outputs], files=[files], tags=self.tags,
                                       flow_run_id=self._flow_run_id)
            self._pending[result.key] = result
            return {result.key: result}
        batch = Batch(self.evaluations, self.model, self.version, self.registered.entrypoint, self.registered.source,
                      list(range(len(points))), points, self._services_name())
        if self.executor == "in-process":
            outcome = evaluate_points(batch, self._model_call())
        else:
            from lume_prefect.scans.batch import prefect_api_here

            batch.api = prefect_api_here()  # the workers find saved blocks where this process does
            if self._pool is None:
                from lume_prefect.scans.executors import default_workers
                from lume_prefect.scans.pools import batch_pool

                self._pool = batch_pool(self.executor, self.workers or default_workers(self.executor), self.executor_options.get("address"),
                                        self.executor_options.get("dask"))
            outcome = self._pool.evaluate(batch)
        if outcome.errors:
            raise EvaluationFailed(self.model, self.version, [f"{points[p]}: {kind}: {message}" for p, (kind, message) in sorted(outcome.errors.items())])
        results = trusted_results(self.model, self.version, keys, points, outcome.outputs, files=outcome.files, tags=self.tags,
                                  flow_run_id=self._flow_run_id)
        for result in results:
            self._pending[result.key] = result
        return {result.key: result for result in results}

    def _model_call(self) -> Any:
        if self._call is None:
            from lume_prefect.scans.batch import model_function

            self._call = model_function(self.registered.entrypoint, self.registered.source)
        return self._call

    def _scan(self, keys: list[str], points: list[dict[str, Any]]) -> dict[str, Any]:
        from lume_prefect.scans.run import run_scan

        self.flush()  # the scan's cache lookup sees every point computed so far
        scan = run_scan(self.model, points, self.version, services=self.services, executor=self.executor, workers=self.workers,
                        refresh=self.refresh, tags=self.tags, progress=False, **self.executor_options)
        if scan.failures:
            raise EvaluationFailed(self.model, self.version, [f"{f.inputs}: {f.error_type}: {f.message}" for f in scan.failures])
        return self.store.get_many(keys)

    def _services_name(self) -> Optional[str]:
        if self.executor == "in-process":
            return None
        return getattr(self.services, "_block_document_name", None)

    def _open_flow_run(self) -> None:
        from lume_prefect.results.result import current_flow_run_id

        self._flow_run_id = current_flow_run_id()
        if self._flow_run_id is None:
            self._flow_run_id = _start_flow_run(self)
            self._own_run = True


def _points(inputs: Any) -> list[dict[str, Any]]:
    """Xopt's vectorized inputs (a dict of N values per input, a DataFrame or a list of dicts) as N dicts."""
    if isinstance(inputs, list):
        return [dict(p) for p in inputs]
    import pandas

    frame = inputs if isinstance(inputs, pandas.DataFrame) else pandas.DataFrame({k: _sequence(v) for k, v in dict(inputs).items()})
    return frame.to_dict("records")


def _sequence(value: Any) -> Any:
    return value if hasattr(value, "__len__") and not isinstance(value, str) else [value]


def optimisation_flow() -> Any:
    """The Prefect flow an evaluator's own flow run is a run of (it runs nothing: the evaluations report to it)."""
    from prefect import flow

    @flow(name="lume-xopt", flow_run_name="xopt {model} {version}")
    def lume_xopt(model: str, version: str, tag: str) -> None:
        """An Xopt optimisation of a registered model: its points are stored with the tag."""

    return lume_xopt


def _start_flow_run(evaluator: ModelEvaluator) -> Any:
    from prefect.client.orchestration import get_client
    from prefect.states import Running

    with get_client(sync_client=True) as client:
        run = client.create_flow_run(
            optimisation_flow(), name=f"xopt {evaluator.model} {evaluator.version}",
            parameters={"model": evaluator.model, "version": evaluator.version, "tag": evaluator.tag},
            tags=["lume-prefect", "lume-xopt", evaluator.tag], state=Running(),
        )
    return run.id


def _end_flow_run(flow_run_id: Any, evaluator: ModelEvaluator, failed: Optional[BaseException]) -> None:
    from prefect.client.orchestration import get_client
    from prefect.states import Completed, Failed

    summary = f"{evaluator.evaluations} evaluations of {evaluator.model} {evaluator.version}; points tagged {evaluator.tag}"
    state = Failed(message=f"{type(failed).__name__}: {failed}") if failed is not None else Completed(message=summary)
    with get_client(sync_client=True) as client:
        client.set_flow_run_state(flow_run_id, state, force=True)
