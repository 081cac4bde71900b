"""The file blocks in Prefect: registration, save/load by name, flows, tasks, result storage, CLI."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid

import pytest
from prefect import flow, task
from prefect.settings import PREFECT_API_URL
from prefect.testing.standard_test_suites import BlockStandardTestSuite

from lume_prefect.files import FileRef, LocalFiles, MountedFiles, S3Files, load_file, read_ref, save_file
from tests.files.conftest import make_s3_files

pytestmark = pytest.mark.prefect
SECRET = "s3cr3t-value-that-must-never-show"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def cli(*args: str) -> subprocess.CompletedProcess:
    """Run a command against the session's Prefect API, as a user would in a shell."""
    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value()}
    return subprocess.run(args, capture_output=True, text=True, env=env, timeout=120)


@pytest.mark.parametrize("block_class", [LocalFiles, MountedFiles, S3Files])
class TestBlockStandards(BlockStandardTestSuite):
    @pytest.fixture
    def block(self, block_class):
        return block_class

    def test_has_a_valid_image(self, block):
        # The standard check downloads the logo; offline, check the URL is set and https.
        assert str(block._logo_url).startswith("https://")


def test_block_types_are_registered_through_the_entry_point():
    listing = cli(sys.executable, "-m", "prefect", "block", "type", "ls")
    assert listing.returncode == 0, listing.stderr
    for slug in ("lume-local-files", "lume-mounted-files", "lume-s3-files"):
        assert slug in listing.stdout


def test_save_load_by_name_and_use_in_a_sync_flow(tmp_path):
    name = unique("runs")
    LocalFiles(basepath=str(tmp_path)).save(name)

    @flow
    def model_flow(block_name: str) -> FileRef:
        ref = save_file(block_name, "out/result.json", {"loss": 0.25})
        assert load_file(block_name, "out/result.json") == {"loss": 0.25}
        assert load_file(path=ref) == {"loss": 0.25}
        return ref

    ref = model_flow(name)
    assert ref.block == f"lume-local-files/{name}"
    assert read_ref(ref) == {"loss": 0.25}  # loads the block by its saved name
    assert LocalFiles.load(name).ls("out") == ["out/result.json"]


async def test_blocks_in_an_async_flow(tmp_path):
    name = unique("async-runs")
    await MountedFiles(host_path=str(tmp_path / "host"), mount_path="/data", create=True).save(name)

    @flow
    async def async_model_flow() -> dict:
        files = await MountedFiles.load(name)
        ref = await files.write("/data/in.yaml", {"n": 3})
        assert ref.block == f"lume-mounted-files/{name}"
        return await files.read("in.yaml")

    assert await async_model_flow() == {"n": 3}
    assert (tmp_path / "host" / "in.yaml").is_file()


def test_tasks_accept_a_block_or_a_slug_qualified_name(tmp_path, s3_server, s3_bucket):
    name = unique("s3")
    make_s3_files(s3_server.endpoint_url, s3_bucket).save(name)

    @flow
    def through_s3() -> object:
        ref = save_file(f"lume-s3-files/{name}", "array.npy", [1, 2, 3])
        return load_file(S3Files.load(name), ref.path).tolist()

    assert through_s3() == [1, 2, 3]


def test_unknown_block_name_is_a_clear_error():
    with pytest.raises(ValueError, match="no file block named 'nope-.*lume-local-files"):
        save_file.fn(unique("nope"), "x.json", 1)


def test_a_saved_block_serves_as_prefect_result_storage(tmp_path):
    name = unique("results")
    LocalFiles(basepath=str(tmp_path)).save(name)

    @task(persist_result=True, result_storage_key="answer-{parameters[x]}")
    def compute(x: int) -> dict:
        return {"answer": x * 2}

    @flow(result_storage=f"lume-local-files/{name}")
    def stored_flow() -> dict:
        return compute(21)

    assert stored_flow() == {"answer": 42}
    assert "answer-21" in LocalFiles.load(name).ls()
    from prefect.results import ResultRecord

    record = ResultRecord.deserialize(LocalFiles.load(name).read_path("answer-21"))
    assert record.result == {"answer": 42}


def test_secrets_never_appear_in_repr_logs_or_cli(tmp_path, s3_server, s3_bucket):
    name = unique("secret-s3")
    block = S3Files(bucket=s3_bucket, endpoint_url=s3_server.endpoint_url, aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key=SECRET)
    block.save(name)
    assert SECRET not in repr(block) and SECRET not in str(block) and SECRET not in block.model_dump_json()

    @flow(log_prints=True)
    def chatty() -> str:
        files = S3Files.load(name)
        print(files)  # a careless user
        return files.write("x.txt", "data").path

    state = chatty(return_state=True)
    assert state.is_completed()
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    # Logs reach the API in batches: wait until the printed block is there.
    with get_client(sync_client=True) as client:
        for _ in range(100):
            logs = client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[state.state_details.flow_run_id])))
            if any("S3Files" in log.message for log in logs):
                break
            time.sleep(0.2)
    assert any("S3Files" in log.message for log in logs), [log.message for log in logs]
    assert all(SECRET not in log.message for log in logs)
    for command in (["files", "info", name], ["files", "info", name, "--json"], ["files", "ls", name]):
        out = cli(sys.executable, "-m", "lume_prefect.cli", *command)
        assert out.returncode == 0, out.stderr
        assert SECRET not in out.stdout + out.stderr
    assert "**********" in cli(sys.executable, "-m", "lume_prefect.cli", "files", "info", name).stdout


def test_files_cli_put_ls_get_rm(tmp_path):
    name = unique("cli")
    LocalFiles(basepath=str(tmp_path / "root")).save(name)
    source = tmp_path / "input.yaml"
    source.write_text("k: 1\n")
    put = cli(sys.executable, "-m", "lume_prefect.cli", "files", "put", name, str(source), "in/input.yaml")
    assert put.returncode == 0, put.stderr
    ref = FileRef.model_validate_json(put.stdout)
    assert ref.block == f"lume-local-files/{name}" and ref.serializer == "yaml" and ref.size == 5
    assert cli(sys.executable, "-m", "lume_prefect.cli", "files", "ls", name, "-r").stdout.split() == ["in/input.yaml"]
    got = cli(sys.executable, "-m", "lume_prefect.cli", "files", "get", name, "in/input.yaml", str(tmp_path / "back.yaml"))
    assert got.returncode == 0 and (tmp_path / "back.yaml").read_text() == "k: 1\n"
    missing = cli(sys.executable, "-m", "lume_prefect.cli", "files", "rm", name, "in/nothing.yaml")
    assert missing.returncode == 1 and "no such file" in missing.stderr
    escape = cli(sys.executable, "-m", "lume_prefect.cli", "files", "put", name, str(source), "../escape.yaml")
    assert escape.returncode == 1 and "outside the root" in escape.stderr
    assert not (tmp_path / "escape.yaml").exists()
    assert cli(sys.executable, "-m", "lume_prefect.cli", "files", "rm", name, "in", "-r").returncode == 0
    assert LocalFiles.load(name).ls() == []
