"""The common file API, run on LocalFiles, MountedFiles and S3Files (a real local S3 server)."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from lume_prefect.files import ChecksumMismatch, FileRef, LocalFiles, UnknownSerializer, read_ref


def test_write_read_round_trip_with_fileref(files):
    ref = files.write("run-1/out.json", {"emittance": 1.5e-6, "ok": True})
    assert files.read("run-1/out.json") == {"emittance": 1.5e-6, "ok": True}
    assert ref.path == "run-1/out.json" and ref.serializer == "json"
    assert ref.size == len(json.dumps({"emittance": 1.5e-6, "ok": True}, indent=2).encode())
    assert ref.sha256 == files._rooted().sha256("run-1/out.json")
    assert ref.block is None  # not saved
    assert files.read_ref(ref) == {"emittance": 1.5e-6, "ok": True}


def test_every_serializer_through_the_block(files):
    array = np.arange(6, dtype=np.int16).reshape(2, 3)
    files.write("a.npy", array)
    files.write("b.h5", {"g": {"x": array}})
    files.write("c.png", np.zeros((3, 3), dtype=np.uint8))
    files.write("d.yaml", {"k": [1, 2]})
    files.write("e.dat", b"\x01\x02")
    files.write("notes", "free text", serializer="text")
    np.testing.assert_array_equal(files.read("a.npy"), array)
    np.testing.assert_array_equal(files.read("b.h5")["g"]["x"], array)
    assert files.read("c.png").size == (3, 3)
    assert files.read("d.yaml") == {"k": [1, 2]}
    assert files.read("e.dat") == b"\x01\x02"
    assert files.read("notes", serializer="text") == "free text"


def test_exists_ls_and_delete(files):
    assert files.ls() == []
    files.write("d/one.txt", "1")
    files.write("d/sub/two.txt", "2")
    files.write("top.txt", "t")
    assert files.exists("d/one.txt") and files.exists("d") and not files.exists("nope.txt")
    assert files.ls() == ["d", "top.txt"]
    assert files.ls("d") == ["d/one.txt", "d/sub"]
    assert files.ls("d", recursive=True) == ["d/one.txt", "d/sub/two.txt"]
    with pytest.raises(IsADirectoryError, match="recursive=True"):
        files.delete("d")
    files.delete("d/one.txt")
    assert not files.exists("d/one.txt")
    files.delete("d", recursive=True)
    assert files.ls() == ["top.txt"]


def test_missing_file_names_the_block_and_full_path(files):
    with pytest.raises(FileNotFoundError) as info:
        files.read("missing/thing.json")
    message = str(info.value)
    assert type(files).__name__ in message and files.url("missing/thing.json") in message
    with pytest.raises(FileNotFoundError, match="missing/thing.json"):
        files.delete("missing/thing.json")
    with pytest.raises(FileNotFoundError, match="no-dir"):
        files.ls("no-dir")


def test_unknown_extension_writes_nothing(files):
    with pytest.raises(UnknownSerializer, match="known serializers"):
        files.write("model.xyz", {"a": 1})
    assert files.ls() == []


def test_streaming_open_in_every_mode(files):
    with files.open("log.txt", "w") as f:
        f.write("line 1\n")
        f.write("line 2\n")
    with files.open("log.txt", "r") as f:
        assert f.read() == "line 1\nline 2\n"
    with files.open("blob.bin", "wb") as f:
        for _ in range(4):
            f.write(b"x" * 1000)
    with files.open("blob.bin", "rb") as f:
        assert f.read(10) == b"x" * 10
    assert files.read("blob.bin") == b"x" * 4000
    with pytest.raises(ValueError, match="mode"):
        files.open("blob.bin", "a")


def test_an_error_while_writing_keeps_the_old_content(files):
    files.write("state.json", {"version": 1})

    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        with files.open("state.json", "wb") as f:
            f.write(b'{"version": 2, "trunc')
            raise Boom
    with pytest.raises(TypeError):
        files.write("state.json", {"bad": object()})
    with pytest.raises(Boom):
        with files.open("fresh.txt", "w") as f:
            f.write("partial")
            raise Boom
    assert files.read("state.json") == {"version": 1}
    assert not files.exists("fresh.txt")
    assert files.ls() == ["state.json"]  # no temporary file is visible


def test_upload_and_download_stream_and_checksum(files, tmp_path):
    source = tmp_path / "big.bin"
    payload = np.random.default_rng(1).bytes(3 * 1024 * 1024 + 17)
    source.write_bytes(payload)
    ref = files.upload(source, "data/big.bin")
    assert ref.size == len(payload)
    assert ref.sha256 == hashlib.sha256(payload).hexdigest()
    (tmp_path / "copy").mkdir()  # download writes a file into an existing directory (issue 21)
    target = files.download("data/big.bin", tmp_path / "copy" / "big.bin")
    assert open(target, "rb").read() == payload


def test_fileref_is_json_round_trippable_and_detects_changes(files):
    ref = files.write("r.json", [1, 2, 3])
    again = FileRef.model_validate_json(ref.model_dump_json())
    assert again == ref
    assert files.read_ref(again) == [1, 2, 3]
    files.write("r.json", [1, 2, 4])
    with pytest.raises(ChecksumMismatch, match="changed since it was written"):
        files.read_ref(again)
    assert files.read_ref(again, verify=False) == [1, 2, 4]


def test_fileref_of_an_unsaved_local_block_reads_through_a_block_given(tmp_path):
    ref = LocalFiles(basepath=str(tmp_path)).write("x/y.yaml", {"a": 1})
    again = FileRef.model_validate_json(ref.model_dump_json())
    assert read_ref(again, LocalFiles(basepath=str(tmp_path))) == {"a": 1}
    with pytest.raises(ValueError, match="names no saved block"):  # never a root guessed from its url
        read_ref(again)


def test_prefect_storage_interface_round_trip(files):
    assert files.write_path("results/abc", b"payload") == "results/abc"
    assert files.read_path("results/abc") == b"payload"


def test_deployment_storage_put_and_get_directory(files, tmp_path):
    project = tmp_path / "project"
    (project / "pkg").mkdir(parents=True)
    (project / "flow.py").write_text("print('hi')\n")
    (project / "pkg" / "model.py").write_text("X = 1\n")
    (project / "secret.env").write_text("TOKEN=1\n")
    ignore = tmp_path / ".prefectignore"
    ignore.write_text("*.env\n")
    assert files.put_directory(str(project), "code", ignore_file=str(ignore)) == 2
    assert files.ls("code", recursive=True) == ["code/flow.py", "code/pkg/model.py"]
    out = tmp_path / "checkout"
    files.get_directory("code", str(out))
    assert (out / "flow.py").read_text() == "print('hi')\n"
    assert (out / "pkg" / "model.py").read_text() == "X = 1\n"
    assert not (out / "secret.env").exists()


async def test_async_twins_and_dispatch(files):
    ref = await files.awrite("async/a.json", {"a": 1})
    assert await files.aread("async/a.json") == {"a": 1}
    assert await files.read("async/a.json") == {"a": 1}  # dispatches to async in async code
    assert await files.aexists("async/a.json")
    assert await files.als("async") == ["async/a.json"]
    assert ref.size > 0
    await files.adelete("async/a.json")
    assert not await files.aexists("async/a.json")
    await files.awrite_path("async/raw", b"bytes")
    assert await files.aread_path("async/raw") == b"bytes"


def test_reading_a_text_stream_while_writing_sees_old_or_new(files):
    files.write("live.txt", "old")
    writer = files.open("live.txt", "wb")
    writer.write(b"new-but-not-finished")
    assert files.read("live.txt") == "old"
    writer.close()
    assert files.read("live.txt") == "new-but-not-finished"


@pytest.mark.s3
def test_s3_objects_carry_their_content_type_and_checksum(s3_server, s3_bucket, tmp_path):
    """Each object says what it is and its SHA-256 (user metadata x-amz-meta-sha256, the
    FileRef's), however it was written: one PUT, a multipart upload, or an upload."""
    import boto3

    from lume_prefect.files.settings import S3_PART_SIZE
    from tests.files.conftest import make_s3_files

    files = make_s3_files(s3_server.endpoint_url, s3_bucket)
    big = np.random.default_rng(2).bytes(S3_PART_SIZE + 1024)  # more than one part: a multipart upload
    (tmp_path / "table.csv").write_text("a,b\n1,2\n")
    refs = {
        "root/small.json": files.write("small.json", {"a": 1}),
        "root/big.bin": files.write("big.bin", big, "bytes"),
        "root/table.csv": files.upload(tmp_path / "table.csv", "table.csv"),
    }
    s3 = boto3.client("s3", endpoint_url=s3_server.endpoint_url, aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1")
    heads = {key: s3.head_object(Bucket=s3_bucket, Key=key) for key in refs}
    assert {key: head["ContentType"] for key, head in heads.items()} == {
        "root/small.json": "application/json", "root/big.bin": "application/octet-stream", "root/table.csv": "text/csv"}
    assert {key: head["Metadata"] for key, head in heads.items()} == {key: {"sha256": ref.sha256} for key, ref in refs.items()}
    assert refs["root/big.bin"].sha256 == hashlib.sha256(big).hexdigest()
    assert files.read("big.bin", "bytes") == big  # the metadata copy kept the content


def test_the_times_files_were_written_in_one_listing(files):
    """What ``prune_transport_inputs`` ages copies by: local mtime, S3 LastModified (a clock
    a second apart from this one's is allowed)."""
    import time

    before = time.time()
    files.write("inputs/a.json", {"a": 1})
    files.write("inputs/deeper/b.json", {"b": 2})
    files.write("other/c.json", {"c": 3})
    after = time.time()
    times = files._rooted().modified_times("inputs")
    assert sorted(times) == ["inputs/a.json", "inputs/deeper/b.json"]
    assert all(before - 2 <= t <= after + 2 for t in times.values()), (before, times, after)
    assert files._rooted().modified("other/c.json") == pytest.approx(after, abs=3)
    assert files._rooted().modified_times("nowhere") == {}
    with pytest.raises(FileNotFoundError, match="inputs/missing.json"):
        files._rooted().modified("inputs/missing.json")
