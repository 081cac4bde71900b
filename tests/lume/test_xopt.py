"""A real Xopt optimisation of a registered model through lume_prefect.xopt: points cached and
stored with the optimisation's tag, all under one flow run, vectorized when Xopt asks, in this
process and on a process pool."""

from __future__ import annotations

import uuid

import pytest

pytest.importorskip("xopt")

from xopt import VOCS, Evaluator, Xopt  # noqa: E402
from xopt.generators.random import RandomGenerator  # noqa: E402
from xopt.generators.sequential.neldermead import NelderMeadGenerator  # noqa: E402

from lume_prefect.xopt import EvaluationFailed, ModelEvaluator  # noqa: E402
from tests.scans.conftest import services_with_live_code  # noqa: E402

pytestmark = [pytest.mark.prefect, pytest.mark.slow]

BOWL = '''
from lume_prefect.models import ModelSpec

spec = ModelSpec(name="{name}", version="1.0.0", author="tests", laboratory="test", facility="test", beampath="test",
                 inputs=[{{"name": "x1", "range": [-2.0, 2.0]}}, {{"name": "x2", "range": [-2.0, 2.0]}}],
                 outputs=[{{"name": "f"}}])


@spec.flow
def bowl(x1: float, x2: float) -> dict:
    if x1 == 1.999:
        raise ValueError("the bowl has a hole at x1=1.999")
    return {{"f": (x1 - 0.5) ** 2 + (x2 + 0.25) ** 2}}
'''

VBOWL = '''
import numpy as np

from lume_prefect.models import ModelSpec

spec = ModelSpec(name="{name}", version="1.0.0", author="tests", laboratory="test", facility="test", beampath="test", vectorized=True,
                 inputs=[{{"name": "x1", "range": [-2.0, 2.0]}}, {{"name": "x2", "range": [-2.0, 2.0]}}],
                 outputs=[{{"name": "f"}}, {{"name": "batch", "type": "int"}}])


@spec.flow
def vbowl(x1, x2) -> dict:
    x1, x2 = np.asarray(x1), np.asarray(x2)
    return {{"f": (x1 - 0.5) ** 2 + (x2 + 0.25) ** 2, "batch": [len(x1)] * len(x1)}}
'''

VOCS_2D = VOCS(variables={"x1": [-2.0, 2.0], "x2": [-2.0, 2.0]}, objectives={"f": "MINIMIZE"})


def flow_runs_of(tag: str):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags

    with get_client(sync_client=True) as client:
        return client.read_flow_runs(flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[tag])))


def test_an_xopt_optimisation_stores_every_point_under_one_flow_run(tmp_path):
    services, model = services_with_live_code(tmp_path, BOWL, "bowl")
    store = services.results.store()

    with ModelEvaluator(model, services=services) as evaluate:
        X = Xopt(vocs=VOCS_2D, evaluator=Evaluator(function=evaluate), generator=NelderMeadGenerator(vocs=VOCS_2D))
        X.random_evaluate(6)
        for _ in range(20):
            X.step()
    data = X.data

    assert len(data) >= 26 and not data["xopt_error"].any()
    assert data["f"].min() < data["f"].iloc[:6].min()  # Nelder-Mead improved on the start points
    stored = store.find(tags=[evaluate.tag])
    distinct = {(row["x1"], row["x2"]) for row in data[["x1", "x2"]].to_dict("records")}
    assert len(stored) == len(distinct) == evaluate.evaluations - (len(data) - len(distinct))
    assert {r.flow_run_id for r in stored} == {evaluate.flow_run_id}
    [run] = flow_runs_of(evaluate.tag)
    assert run.id == evaluate.flow_run_id and run.state.is_completed() and run.parameters["model"] == model
    best = data.loc[data["f"].idxmin()]
    assert store.get(next(r.key for r in stored if r.inputs == {"x1": best["x1"], "x2": best["x2"]})).outputs["f"] == best["f"]

    # a second optimisation over stored points computes nothing: the cache answers
    again = ModelEvaluator(model, services=services)
    outputs = again({"x1": float(best["x1"]), "x2": float(best["x2"])})
    again.close()
    assert outputs["f"] == best["f"] and store.find(tags=[again.tag]) == []


def test_inside_a_flow_the_evaluations_belong_to_that_flow_run(tmp_path):
    from prefect import flow

    services, model = services_with_live_code(tmp_path, BOWL, "bowl")

    @flow
    def optimise() -> tuple:
        with ModelEvaluator(model, services=services) as evaluate:
            X = Xopt(vocs=VOCS_2D, evaluator=Evaluator(function=evaluate), generator=RandomGenerator(vocs=VOCS_2D))
            X.random_evaluate(4)
        from prefect.runtime import flow_run

        return evaluate.tag, flow_run.id

    tag, run_id = optimise()
    stored = services.results.store().find(tags=[tag])
    assert len(stored) == 4 and {str(r.flow_run_id) for r in stored} == {run_id}
    assert flow_runs_of(tag) == []  # no flow run of its own


@pytest.mark.parametrize("executor", ["in-process", "processes"])
def test_vectorized_xopt_calls_a_vectorized_model_once_per_step(tmp_path, executor):
    services, model = services_with_live_code(tmp_path, VBOWL, "vbowl")

    with ModelEvaluator(model, services=services, executor=executor, workers=1) as evaluate:
        X = Xopt(vocs=VOCS_2D, evaluator=evaluate.xopt_evaluator(vectorized=True), generator=RandomGenerator(vocs=VOCS_2D))
        X.random_evaluate(8)
    data = X.data
    assert len(data) == 8 and set(data["batch"]) == {8}  # one call of the model for the 8 points
    assert list(data["f"]) == pytest.approx(list((data["x1"] - 0.5) ** 2 + (data["x2"] + 0.25) ** 2))
    assert len(services.results.store().find(tags=[evaluate.tag])) == 8


def test_a_failing_point_is_an_xopt_error_and_the_others_are_stored(tmp_path):
    services, model = services_with_live_code(tmp_path, BOWL, "bowl")
    with ModelEvaluator(model, services=services) as evaluate:
        X = Xopt(vocs=VOCS_2D, evaluator=Evaluator(function=evaluate), generator=RandomGenerator(vocs=VOCS_2D), strict=False)
        X.evaluate_data([{"x1": 0.0, "x2": 0.0}, {"x1": 1.999, "x2": 0.0}])
    assert list(X.data["xopt_error"]) == [False, True]
    assert "the bowl has a hole at x1=1.999" in X.data["xopt_error_str"].iloc[1]
    assert len(services.results.store().find(tags=[evaluate.tag])) == 1
    with ModelEvaluator(model, services=services) as evaluate, pytest.raises(ValueError, match="bowl has a hole"):
        evaluate({"x1": 1.999, "x2": 1.0})  # one point in this process: the model's own error
    with ModelEvaluator(model, services=services) as evaluate, pytest.raises(EvaluationFailed, match=r"1 point\(s\) failed: .*bowl has a hole"):
        evaluate.vectorized({"x1": [0.25, 1.999], "x2": [0.0, 0.5]})  # two points to compute: a batch
    assert len(services.results.store().find(tags=[evaluate.tag])) == 0


def test_an_unknown_version_or_executor_is_refused_before_anything_runs(tmp_path):
    services, model = services_with_live_code(tmp_path, BOWL, "bowl")
    with pytest.raises(ValueError, match="executor must be one of"):
        ModelEvaluator(model, services=services, executor="threads")
    with pytest.raises(LookupError, match="9.9"):
        ModelEvaluator(model, "9.9", services=services)
    assert uuid  # the module's names are used
