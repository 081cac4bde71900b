"""Faults: a writer killed mid-write leaves no partial file; big files stream in bounded memory."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import tracemalloc

import pytest

from lume_prefect.files import LocalFiles, S3Files

MiB = 1024 * 1024

# The child writes through the block, announces how far it got, then hangs until killed.
WRITER = textwrap.dedent("""
    import json, sys, time
    from lume_prefect.files import LocalFiles, S3Files
    spec = json.loads(sys.argv[1])
    block = (S3Files if spec.pop("kind") == "s3" else LocalFiles)(**spec.pop("block"))
    with block.open(spec["path"], "wb") as f:
        for _ in range(spec["chunks"]):
            f.write(b"n" * (1024 * 1024))
        f.flush()
        print("written", flush=True)
        time.sleep(600)
""")


def kill_writer_midway(kind: str, block: dict, path: str, chunks: int) -> None:
    spec = json.dumps({"kind": kind, "block": block, "path": path, "chunks": chunks})
    child = subprocess.Popen([sys.executable, "-c", WRITER, spec], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "written"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL


@pytest.mark.unit
def test_local_writer_killed_mid_write_leaves_old_content(tmp_path):
    files = LocalFiles(basepath=str(tmp_path))
    files.write("state.bin", b"old")
    kill_writer_midway("local", {"basepath": str(tmp_path)}, "state.bin", chunks=4)
    kill_writer_midway("local", {"basepath": str(tmp_path)}, "new.bin", chunks=4)
    assert files.read("state.bin") == b"old"
    assert not files.exists("new.bin")
    assert files.ls() == ["state.bin"]
    # the killed writers' bytes went only to hidden temporary files beside the targets
    assert len([p for p in os.listdir(tmp_path) if ".lume-tmp-" in p]) == 2


@pytest.mark.s3
def test_s3_writer_killed_mid_multipart_upload_leaves_no_object(s3_server, s3_bucket):
    block = {"bucket": s3_bucket, "endpoint_url": s3_server.endpoint_url, "aws_access_key_id": "k", "aws_secret_access_key": "s"}
    files = S3Files(**block)
    files.write("state.bin", b"old")
    # 40 MiB > one 16 MiB part: the multipart upload has started when the writer dies
    kill_writer_midway("s3", block, "state.bin", chunks=40)
    kill_writer_midway("s3", block, "new.bin", chunks=40)
    s3 = files._rooted().fs
    uploads = s3.call_s3("list_multipart_uploads", Bucket=s3_bucket).get("Uploads", [])
    assert {u["Key"] for u in uploads} == {"state.bin", "new.bin"}  # started, never completed
    assert files.read("state.bin") == b"old"
    assert not files.exists("new.bin")
    assert files.ls() == ["state.bin"]


@pytest.mark.s3
def test_s3_error_mid_multipart_upload_aborts_it(s3_server, s3_bucket):
    files = S3Files(bucket=s3_bucket, endpoint_url=s3_server.endpoint_url, aws_access_key_id="k", aws_secret_access_key="s")
    with pytest.raises(RuntimeError):
        with files.open("big.bin", "wb") as f:
            for _ in range(40):
                f.write(b"x" * MiB)
            raise RuntimeError("model crashed")
    uploads = files._rooted().fs.call_s3("list_multipart_uploads", Bucket=s3_bucket).get("Uploads", [])
    assert uploads == [] and not files.exists("big.bin")


class ZeroStream:
    """A binary stream of ``size`` zero bytes that never holds more than one chunk."""

    def __init__(self, size: int):
        self.left = size

    def read(self, n: int = -1) -> bytes:
        n = self.left if n < 0 else min(n, self.left)
        self.left -= n
        return bytes(n)


def peak_python_memory(fn) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["local", "s3"])
def test_large_files_stream_in_bounded_memory(kind, tmp_path, request):
    size = 256 * MiB
    if kind == "local":
        files = LocalFiles(basepath=str(tmp_path / "root"))
    else:
        server, bucket = request.getfixturevalue("s3_server"), request.getfixturevalue("s3_bucket")
        files = S3Files(bucket=bucket, endpoint_url=server.endpoint_url, aws_access_key_id="k", aws_secret_access_key="s")
    refs = []
    write_peak = peak_python_memory(lambda: refs.append(files.write("big.bin", ZeroStream(size))))
    assert refs[0].size == size
    read_peak = peak_python_memory(lambda: files.download("big.bin", tmp_path / "copy.bin"))
    assert os.path.getsize(tmp_path / "copy.bin") == size
    upload_peak = peak_python_memory(lambda: refs.append(files.upload(tmp_path / "copy.bin", "again.bin")))
    assert refs[1].size == size and refs[1].sha256 == refs[0].sha256
    assert upload_peak < 64 * MiB, f"upload peaked at {upload_peak / MiB:.1f} MiB for a {size // MiB} MiB file"
    assert write_peak < 64 * MiB, f"write peaked at {write_peak / MiB:.1f} MiB for a {size // MiB} MiB file"
    assert read_peak < 64 * MiB, f"read peaked at {read_peak / MiB:.1f} MiB for a {size // MiB} MiB file"
