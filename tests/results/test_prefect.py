"""The results store in Prefect: blocks, configurable persistence, tasks, plots as artifacts, CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import numpy as np
import pytest
from prefect import flow, task
from prefect.settings import PREFECT_API_URL
from prefect.testing.standard_test_suites import BlockStandardTestSuite
from pydantic import SecretStr

from lume_prefect.files import LocalFiles
from lume_prefect.results import (
    RESULTS_STORE_ENV,
    MongoResults,
    Result,
    ResultNotFound,
    SQLResults,
    load_result,
    plot_results,
    query_results,
    save_result,
)

pytestmark = pytest.mark.prefect


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def sqlite_block(tmp_path) -> tuple[str, SQLResults]:
    name = unique("results")
    block = SQLResults(url=SecretStr(f"sqlite:///{tmp_path}/results.sqlite"))
    block.save(name)
    return name, block


def scan(n: int = 5) -> list[Result]:
    return [Result(model="injector", version="1", inputs={"charge": float(i)}, outputs={"emittance": 1e-6 * (1 + i * i)}) for i in range(n)]


@pytest.mark.parametrize("block_class", [SQLResults, MongoResults])
class TestBlockStandards(BlockStandardTestSuite):
    @pytest.fixture
    def block(self, block_class):
        return block_class

    def test_has_a_valid_image(self, block):
        assert str(block._logo_url).startswith("https://")  # the standard check downloads it


def test_block_types_are_registered_through_the_entry_point():
    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value()}
    listing = subprocess.run([sys.executable, "-m", "prefect", "block", "type", "ls"], capture_output=True, text=True, env=env, timeout=120)
    assert listing.returncode == 0, listing.stderr
    assert "lume-sql-results" in listing.stdout and "lume-mongo-results" in listing.stdout


def test_url_is_kept_secret_in_the_saved_block(tmp_path):
    name = unique("secret")
    SQLResults(url=SecretStr("postgresql+psycopg://lume:hunter2@127.0.0.1/lume")).save(name)
    loaded = SQLResults.load(name)
    assert loaded.url.get_secret_value().endswith("hunter2@127.0.0.1/lume")
    assert "hunter2" not in repr(loaded) and "hunter2" not in repr(loaded.store())


def test_a_flow_picks_its_store_from_the_environment_without_code_changes(tmp_path, monkeypatch):
    name, block = sqlite_block(tmp_path)

    @flow
    def model_flow(charge: float) -> Result:
        result = Result(model="injector", version="1", inputs={"charge": charge}, outputs={"y": charge * 2})
        key = save_result(result)
        assert key == result.key
        return result

    monkeypatch.setenv(RESULTS_STORE_ENV, "none")
    model_flow(1.0)
    assert block.count() == 0  # persistence off: nothing stored

    monkeypatch.setenv(RESULTS_STORE_ENV, name)
    result = model_flow(2.0)
    stored = block.get(result.key)
    assert stored == result
    assert stored.flow_run_id is not None  # filled from the run context
    model_flow(2.0)  # the same computation again: skipped, not duplicated
    assert block.count() == 1


def test_tasks_load_and_query_by_block_name(tmp_path):
    name, block = sqlite_block(tmp_path)
    block.insert_many(scan())

    @flow
    def analysis() -> tuple[float, int, list[float]]:
        first = load_result(scan()[0].key, f"lume-sql-results/{name}")
        frame = query_results(name, model="injector", inputs={"charge": 3}, as_dataframe=True)
        found = query_results(name, model="injector", newest_first=False)
        return first.outputs["emittance"], len(frame), [r.inputs["charge"] for r in found]

    assert analysis() == (1e-6, 1, [0.0, 1.0, 2.0, 3.0, 4.0])
    with pytest.raises(ResultNotFound, match="no result with key 'f{64}'"):
        load_result.fn("f" * 64, block)
    with pytest.raises(ValueError, match="no results block named 'nope-"):
        query_results.fn(unique("nope"))


async def test_blocks_in_an_async_flow(tmp_path):
    name = unique("async-results")
    await SQLResults(url=SecretStr(f"sqlite:///{tmp_path}/r.sqlite")).save(name)

    @flow
    async def async_flow() -> tuple[int, str]:
        results = await SQLResults.load(name)
        keys = await results.insert_many(scan(3))
        found = await results.get(keys[1])
        return await results.count(), found.model

    assert await async_flow() == (3, "injector")


def test_mongo_block_over_the_wire(mongo_server):
    name = unique("mongo")
    MongoResults(url=SecretStr(mongo_server.url), database=unique("db")).save(name)

    @task
    def record(i: int) -> str:
        return save_result.fn(Result(model="m", version="1", inputs={"i": i}, outputs={"a": np.eye(2)}), name)

    @flow
    def mongo_flow() -> list[str]:
        return [record(i) for i in range(3)]

    keys = mongo_flow()
    loaded = MongoResults.load(name)
    assert loaded.count() == 3
    assert loaded.get(keys[0]).outputs["a"].shape == (2, 2)
    assert loaded.get(keys[0]).flow_run_id is not None  # filled inside the task


def test_plot_results_publishes_artifacts_on_the_flow_run(tmp_path):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    name, block = sqlite_block(tmp_path)
    block.insert_many(scan(6))
    files = unique("plots")
    LocalFiles(basepath=str(tmp_path / "plots")).save(files)

    @flow
    def report() -> tuple[object, str]:
        from prefect.runtime import flow_run

        ref = plot_results("emittance", x="charge", store=name, query={"model": "injector"}, files=files, path="scan.png")
        plot_results("emittance", kind="history", store=name, artifact_key="emittance-history")
        return ref, flow_run.id

    ref, run_id = report()
    png = (tmp_path / "plots" / "scan.png").read_bytes()
    assert png.startswith(b"\x89PNG") and ref.sha256 and ref.path == "scan.png"

    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run_id])))
    by_key = {a.key: a for a in artifacts}
    assert {"results-emittance-scatter", "results-emittance-scatter-data", "emittance-history", "emittance-history-data"} == set(by_key)
    # on the flow run itself (not under the task run), the card's description being the image
    assert all(a.task_run_id is None for a in artifacts)
    markdown = by_key["results-emittance-scatter"]
    assert markdown.type == "markdown" and "data:image/png;base64," in markdown.data and "scan.png" in markdown.data
    assert markdown.description.startswith("![outputs.emittance vs inputs.charge]") and "data:image/png;base64," in markdown.description
    table = by_key["results-emittance-scatter-data"]
    data = json.loads(table.data) if isinstance(table.data, str) else table.data
    assert table.type == "table" and sorted(data["inputs.charge"]) == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    # no image artifact pointing at a file:// URL, which no browser shows from an http page


def test_cli_reads_a_saved_block(tmp_path):
    name, block = sqlite_block(tmp_path)
    block.insert_many(scan(4))
    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value()}
    env.pop(RESULTS_STORE_ENV, None)
    cli = [sys.executable, "-m", "lume_prefect.cli"]

    listing = subprocess.run([*cli, "results", "list", "--store", name, "--json"], capture_output=True, text=True, env=env, timeout=120)
    assert listing.returncode == 0, listing.stderr
    assert sorted(row["inputs.charge"] for row in json.loads(listing.stdout)) == [0.0, 1.0, 2.0, 3.0]
    out = tmp_path / "scan.parquet"
    exported = subprocess.run([*cli, "results", "export", str(out), "--store", name, "--input", "charge=2"], capture_output=True, text=True, env=env, timeout=120)
    assert exported.returncode == 0, exported.stderr
    import pandas as pd

    assert pd.read_parquet(out)["outputs.emittance"].tolist() == pytest.approx([5e-6])
