"""Faults: a writer killed mid-write leaves no partial file; big files stream in bounded memory."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

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


# The streaming measurement runs in a fresh process: tracemalloc counts every thread of its
# process, and a test worker's process also holds other tests' threads (Prefect's log and event
# workers, servers' clients) whose allocations are not the file service's.
STREAMING = textwrap.dedent("""
    import json, os, sys, tracemalloc
    from lume_prefect.files import LocalFiles, S3Files

    class ZeroStream:  # a binary stream of `size` zero bytes that never holds more than one chunk
        def __init__(self, size):
            self.left = size

        def read(self, n=-1):
            n = self.left if n < 0 else min(n, self.left)
            self.left -= n
            return bytes(n)

    def peak(fn):
        tracemalloc.start()
        try:
            value = fn()
            return value, tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    spec = json.loads(sys.argv[1])
    files = (S3Files if spec["kind"] == "s3" else LocalFiles)(**spec["block"])
    size, copy = spec["size"], spec["copy"]
    written, write_peak = peak(lambda: files.write("big.bin", ZeroStream(size)))
    _, read_peak = peak(lambda: files.download("big.bin", copy))
    again, upload_peak = peak(lambda: files.upload(copy, "again.bin"))
    print(json.dumps({"sizes": [written.size, os.path.getsize(copy), again.size], "same": written.sha256 == again.sha256,
                      "write": write_peak, "read": read_peak, "upload": upload_peak}))
""")


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["local", "s3"])
def test_large_files_stream_in_bounded_memory(kind, tmp_path, request):
    size = 256 * MiB
    if kind == "local":
        block = {"basepath": str(tmp_path / "root")}
    else:
        server, bucket = request.getfixturevalue("s3_server"), request.getfixturevalue("s3_bucket")
        block = {"bucket": bucket, "endpoint_url": server.endpoint_url, "aws_access_key_id": "k", "aws_secret_access_key": "s"}
    spec = {"kind": kind, "block": block, "size": size, "copy": str(tmp_path / "copy.bin")}
    done = subprocess.run([sys.executable, "-c", STREAMING, json.dumps(spec)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    measured = json.loads(done.stdout.strip().splitlines()[-1])
    assert measured["sizes"] == [size, size, size] and measured["same"]
    for operation in ("write", "read", "upload"):
        peak = measured[operation]
        assert peak < 64 * MiB, f"{operation} peaked at {peak / MiB:.1f} MiB for a {size // MiB} MiB file"


# A server slow to complete a multipart upload (it assembles the parts: seconds for a large
# object on a loaded machine) outlasts the read timeout; s3fs resends the complete, which
# races the first, then aborts, and that abort's "no such upload" used to replace the cause.
@pytest.fixture
def slow_completes(s3_server, s3_bucket):
    from tests.components import SlowCompleteProxy

    proxies = []

    def make(**kwargs):
        proxy = SlowCompleteProxy(s3_server.endpoint_url, **kwargs)
        proxies.append(proxy)
        files = S3Files(bucket=s3_bucket, endpoint_url=proxy.endpoint_url, aws_access_key_id="k", aws_secret_access_key="s",
                        read_timeout=1, max_attempts=2)
        return proxy, files

    yield make
    for proxy in proxies:
        proxy.stop()


def open_uploads(files, bucket):
    return files._rooted().fs.call_s3("list_multipart_uploads", Bucket=bucket).get("Uploads", [])


def big_file(tmp_path):
    data = os.urandom(MiB) * 17  # > two 8 MiB parts: a multipart upload
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    return path, data


def multipart_uploads_begun(proxy):
    return sum(r.startswith("POST") and r.endswith("?uploads") for r in proxy.requests)


@pytest.mark.s3
def test_s3_upload_whose_slow_complete_landed_succeeds(slow_completes, s3_bucket, tmp_path):
    # the first complete lands after the client gave up on it; its resend is lost: s3fs's
    # abort then finds no such upload (this failed with that FileNotFoundError)
    proxy, files = slow_completes(hold=1.5, plan=["late", "drop"])
    path, data = big_file(tmp_path)
    ref = files.upload(str(path), "big.bin")
    assert files.read("big.bin") == data and ref.size == len(data)
    assert open_uploads(files, s3_bucket) == [] and multipart_uploads_begun(proxy) == 1


@pytest.mark.s3
def test_s3_upload_whose_abort_gets_no_answer_after_its_complete_landed_succeeds(slow_completes, s3_bucket, tmp_path):
    proxy, files = slow_completes(hold=1.5, plan=["late", "drop"], dropped_aborts=2)
    path, data = big_file(tmp_path)
    files.upload(str(path), "big.bin")
    assert files.read("big.bin") == data and multipart_uploads_begun(proxy) == 1


@pytest.mark.s3
def test_s3_upload_retries_once_when_the_completes_are_lost(slow_completes, s3_bucket, tmp_path):
    proxy, files = slow_completes(hold=1.5, plan=["drop", "drop"])  # both attempts of the first upload's complete
    path, data = big_file(tmp_path)
    files.upload(str(path), "big.bin")
    assert files.read("big.bin") == data
    assert open_uploads(files, s3_bucket) == [] and multipart_uploads_begun(proxy) == 2  # the first was aborted


@pytest.mark.s3
def test_s3_upload_that_keeps_failing_reports_the_timeout_and_writes_nothing(slow_completes, s3_bucket, tmp_path):
    from lume_prefect.files.errors import S3Unreachable

    proxy, files = slow_completes(hold=1.5, plan=["drop"] * 4)
    path, _ = big_file(tmp_path)
    with pytest.raises(S3Unreachable, match="Read timeout.*uploadId"):
        files.upload(str(path), "big.bin")
    assert not files.exists("big.bin") and open_uploads(files, s3_bucket) == []
    assert multipart_uploads_begun(proxy) == 2


@pytest.mark.s3
def test_s3_write_whose_slow_complete_landed_succeeds(slow_completes, s3_bucket):
    proxy, files = slow_completes(hold=1.5, plan=["late", "drop"])
    data = os.urandom(MiB) * 40  # three 16 MiB parts
    ref = files.write("big.bin", data)
    head = files._rooted().fs.call_s3("head_object", Bucket=s3_bucket, Key="big.bin")
    assert files.read("big.bin") == data and head["Metadata"]["sha256"] == ref.sha256  # the checksum added after
    assert open_uploads(files, s3_bucket) == []


@pytest.mark.s3
def test_s3_write_whose_completes_are_lost_reports_the_timeout_and_writes_nothing(slow_completes, s3_bucket):
    from lume_prefect.files.errors import S3Unreachable

    proxy, files = slow_completes(hold=1.5, plan=["drop"] * 2)
    with pytest.raises(S3Unreachable, match="Read timeout.*uploadId"):
        files.write("big.bin", os.urandom(MiB) * 40)
    assert not files.exists("big.bin") and open_uploads(files, s3_bucket) == []
