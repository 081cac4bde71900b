"""Both stores, one behaviour: every test runs on SQLite, PostgreSQL and MongoDB's wire protocol."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest

from lume_prefect.files import FileRef
from lume_prefect.results import DuplicateResult, InvalidQuery, Result

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=timezone.utc)


def run(i: int, model: str = "injector", version: str = "1", **extra) -> Result:
    return Result(
        model=model,
        version=version,
        inputs={"charge": i, "solenoid": {"b_T": 0.1 * (i % 3)}, "label": f"run-{i}"},
        outputs={"emittance": 1e-6 * (i + 1)},
        created=T0 + timedelta(minutes=i),
        **extra,
    )


def test_round_trip_keeps_types_dtypes_and_shapes(store):
    ref = FileRef(path="run-1/screen.png", serializer="png", sha256="0" * 64, size=10, url="file:///data/run-1/screen.png")
    result = Result(
        model="injector",
        version="2.0",
        inputs={"charge": np.float32(250.5), "grid": np.linspace(0, 1, 5), "opts": {"method": "rk4", "steps": (4, 8)}},
        outputs={
            "emittance": 1.2e-6,
            "failed_fit": float("nan"),
            "image": np.arange(24, dtype=np.uint16).reshape(2, 3, 4),
            "table": pd.DataFrame({"z": [0.0, 0.5], "sigma": [1.0, 1.1], "name": ["a", "b"]}),
            "history": [1, [2, {"x": None}]],
        },
        files=[ref],
        tags=["scan-7", "nightly"],
    )
    assert store.insert(result) == result.key
    back = store.get(result.key)
    assert back == result
    assert type(back.inputs["charge"]) is np.float32 and back.inputs["charge"] == np.float32(250.5)
    assert back.inputs["opts"] == {"method": "rk4", "steps": (4, 8)}
    assert back.outputs["image"].dtype == np.uint16 and back.outputs["image"].shape == (2, 3, 4)
    np.testing.assert_array_equal(back.inputs["grid"], np.linspace(0, 1, 5))
    pd.testing.assert_frame_equal(back.outputs["table"], result.outputs["table"])
    assert np.isnan(back.outputs["failed_fit"])
    assert back.files == [ref] and back.tags == ["scan-7", "nightly"] and back.created == result.created
    assert store.get("f" * 64) is None


def test_duplicate_is_refused_by_the_unique_index_naming_the_key(store):
    first = run(1)
    store.insert(first)
    same_inputs = Result(model="injector", version="1", inputs={"label": "run-1", "solenoid": {"b_T": 0.1}, "charge": 1.0}, outputs={"emittance": 9.0})
    assert same_inputs.key == first.key
    with pytest.raises(DuplicateResult, match=first.key) as error:
        store.insert(same_inputs)
    assert error.value.key == first.key
    assert store.get(first.key).outputs["emittance"] == first.outputs["emittance"]
    assert store.insert(same_inputs, on_duplicate="skip") == first.key
    assert store.get(first.key).outputs["emittance"] == first.outputs["emittance"]
    store.insert(same_inputs, on_duplicate="replace")
    assert store.get(first.key).outputs["emittance"] == 9.0
    assert store.count() == 1


def test_insert_many_is_all_or_nothing_on_error(store):
    store.insert(run(5))
    batch = [run(i) for i in range(10)]  # run(5) is already stored
    with pytest.raises(DuplicateResult, match=run(5).key):
        store.insert_many(batch)
    assert store.count() == 1
    with pytest.raises(DuplicateResult):
        store.insert_many([run(20), run(21), run(20)])  # a duplicate inside the batch
    assert store.count() == 1
    assert store.insert_many(batch, on_duplicate="skip") == [r.key for r in batch]
    assert store.count() == 10


def test_insert_many_refuses_a_bad_item_before_writing(store):
    with pytest.raises(TypeError, match=r"results\[2\] must be a Result"):
        store.insert_many([run(1), run(2), {"model": "injector"}])
    with pytest.raises(ValueError, match="on_duplicate must be one of"):
        store.insert_many([run(1)], on_duplicate="overwrite")
    assert store.count() == 0


def test_find_filters_and_orders(store):
    store.insert_many([run(i) for i in range(6)] + [run(0, version="2", tags=["scan-7"]), run(1, model="gun", tags=["scan-7", "x"])])
    assert [r.inputs["charge"] for r in store.find(model="injector", version="1")] == [5, 4, 3, 2, 1, 0]
    assert [r.inputs["charge"] for r in store.find(model="injector", version="1", newest_first=False, limit=2)] == [0, 1]
    assert store.count(model="injector") == 7
    assert store.count(since=T0 + timedelta(minutes=2), until=T0 + timedelta(minutes=4)) == 2
    assert store.count(since=(T0 + timedelta(minutes=2)).isoformat()) == 4
    assert [r.inputs["charge"] for r in store.find(inputs={"charge": 3.0})] == [3]  # numbers by value
    assert store.count(inputs={"label": "run-3"}) == 1
    assert store.count(inputs={"charge": "3"}) == 0  # a str is not the number
    assert store.count(model="injector", inputs={"solenoid.b_T": 0.0}) == 3  # nested, dotted
    assert store.count(inputs={"absent": None}) == 8
    assert store.count(tags="scan-7") == 2
    assert [r.model for r in store.find(tags=["scan-7", "x"])] == ["gun"]
    assert store.find(limit=0) == []


def test_find_matches_numpy_scalar_inputs_by_value(store):
    store.insert(Result(model="m", version="1", inputs={"x": np.float64(0.25), "n": np.int32(3), "ok": np.bool_(True)}))
    assert store.count(inputs={"x": 0.25, "n": 3, "ok": True}) == 1
    assert store.count(inputs={"n": 4}) == 0


def test_bad_query_arguments_are_refused(store):
    with pytest.raises(InvalidQuery, match="^since: must be a datetime or an ISO-8601 str, got int"):
        store.find(since=1_700_000_000)
    with pytest.raises(InvalidQuery, match="^key: must be 64 lowercase hex digits"):
        store.get("not-a-key")
    with pytest.raises(InvalidQuery, match="^until:"):
        store.count(until="last tuesday")


def test_to_dataframe_flattens_inputs_and_outputs(store):
    store.insert_many([run(i) for i in range(3)])
    store.insert(Result(model="injector", version="1", inputs={"charge": 9}, outputs={"screen": np.ones((2, 2))}))
    frame = store.to_dataframe(model="injector", newest_first=False)
    assert list(frame.columns[:7]) == ["key", "model", "version", "created", "flow_run_id", "tags", "files"]
    assert {"inputs.charge", "inputs.solenoid.b_T", "inputs.label", "outputs.emittance", "outputs.screen"} <= set(frame.columns)
    assert frame["inputs.charge"].tolist() == [0, 1, 2, 9]
    assert frame["outputs.emittance"].iloc[:3].tolist() == pytest.approx([1e-6, 2e-6, 3e-6])
    assert frame["outputs.screen"].iloc[3].shape == (2, 2)
    assert store.to_dataframe(model="nobody").empty


def test_delete(store):
    result = run(1)
    store.insert(result)
    assert store.delete(result.key) is True
    assert store.delete(result.key) is False
    assert store.get(result.key) is None
    store.insert(result)  # the key is free again
    assert store.count() == 1


def test_unstorable_values_never_reach_the_store(store):
    with pytest.raises(ValueError, match="inputs.callback: cannot store a callable"):
        store.insert(Result(model="m", version="1", inputs={"callback": print}))
    assert store.count() == 0



def test_a_key_is_found_by_its_first_digits_as_git_finds_a_commit(store):
    from lume_prefect.results import AmbiguousKey, ResultNotFound

    # two results whose keys share their first 5 digits (among 3,000 the first such pair), and others
    seen: dict[str, Result] = {}
    for i in range(3000):
        candidate = run(i)
        twin = seen.setdefault(candidate.key[:5], candidate)
        if twin is not candidate:
            break
    pair = [twin, candidate]
    shared = next(n for n in range(64) if twin.key[n] != candidate.key[n])
    store.insert_many([*pair, *(run(i) for i in range(3000, 3010))])

    target = candidate.key
    for given in (target, target[:12], target[: shared + 1].upper(), f"  {target[:20]} "):
        assert store.full_key(given) == target
    with pytest.raises(AmbiguousKey, match="give more of its digits") as caught:
        store.full_key(target[:shared])
    assert sorted(caught.value.matches) == sorted(r.key for r in pair)
    absent = next(f"{n:04x}" for n in range(65536) if not any(k.startswith(f"{n:04x}") for k in (r.key for r in pair)))
    with pytest.raises(ResultNotFound, match=absent):
        store.full_key(absent)
    for bad in ("abc", "xyz12345", "", None, "a" * 65, target[:10] + "-"):
        with pytest.raises(InvalidQuery, match="key"):
            store.full_key(bad)


@pytest.mark.parametrize("backend", ["mongo"])
def test_mongo_indexes_serve_a_flow_runs_results_and_tags(backend, request):
    """The Mongo store's indexes, created on first use, cover what the SQL migrations index."""
    from tests.results.conftest import open_store

    store = open_store(backend, request)
    store.insert(Result(model="m", version="1", outputs={"o": 1}, tags=["t"]))
    keys = {name: [field for field, _order in info["key"]] for name, info in store.collection.index_information().items()}
    assert keys["flow_run_id"] == ["flow_run_id"] and keys["tags"] == ["tags"]
