"""Files: bad inputs get a clear error naming the block and path, and nothing is left behind."""

from __future__ import annotations

import os
import pickle
import socket
import threading
import time

import pytest

from lume_prefect.files import FileRef, LocalFiles, MountedFiles, S3Files, read_ref
from lume_prefect.files.errors import CorruptFile, S3Unreachable
from tests.files.conftest import make_s3_files


# ---- item 4: a FileRef reads only through a block's root --------------------------------


@pytest.mark.unit
def test_fileref_never_reads_outside_a_block_root():
    ref = FileRef(url="file:///etc/passwd", path="passwd", serializer="bytes", sha256="0" * 64, size=1)
    with pytest.raises(ValueError, match="names no saved block"):
        read_ref(ref, verify=False)


@pytest.mark.unit
def test_fileref_path_cannot_leave_the_block_it_is_read_through(tmp_path):
    files = LocalFiles(basepath=str(tmp_path / "root"))
    ref = FileRef(url="file:///etc/passwd", path="../../../../etc/passwd", serializer="bytes", sha256="0" * 64, size=1)
    with pytest.raises(ValueError, match="outside the root"):
        read_ref(ref, files, verify=False)


# ---- item 7: directories are created only when asked --------------------------------------


@pytest.mark.unit
def test_mounted_files_without_create_refuses_a_missing_host_directory(tmp_path):
    host = tmp_path / "not-there"
    files = MountedFiles(host_path=str(host), mount_path="/lume-hardening-no-mount", create=False)
    with pytest.raises(FileNotFoundError, match="root directory does not exist.*create=True"):
        files.write("a.json", {"x": 1})
    assert not host.exists()
    assert MountedFiles(host_path=str(host), mount_path="/lume-hardening-no-mount", create=True).write("a.json", {"x": 1})
    assert host.is_dir()


@pytest.mark.unit
@pytest.mark.parametrize("basepath", ["", "   "])
def test_local_files_refuses_an_empty_basepath(basepath, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="basepath must name a directory"):
        LocalFiles(basepath=basepath)
    assert os.listdir(tmp_path) == []


# ---- item 8: a name too long leaves nothing and names the path given --------------------


@pytest.mark.unit
@pytest.mark.parametrize("path", ["/".join(f"d{i}" for i in range(20)) + "/" + "n" * 300 + ".json", "a/" + "d" * 300 + "/x.json"])
def test_a_name_too_long_leaves_no_directories_and_names_the_path(tmp_path, path):
    files = LocalFiles(basepath=str(tmp_path / "root"))
    with pytest.raises(OSError, match="longer than 255 bytes") as info:
        files.write(path, {"x": 1})
    assert info.value.filename == path
    assert ".lume-tmp-" not in str(info.value)
    assert not (tmp_path / "root").exists() or list((tmp_path / "root").rglob("*")) == []


@pytest.mark.unit
def test_a_long_name_that_fits_is_written_and_its_temporary_file_fits_too(tmp_path):
    files = LocalFiles(basepath=str(tmp_path))
    name = "n" * 250 + ".json"  # 255 bytes: its temporary file's name needs a digest
    files.write(name, {"x": 1})
    assert files.read(name) == {"x": 1}
    assert os.listdir(tmp_path) == [name]


# ---- item 9: a corrupt file names its block, path and serializer ---------------------------


@pytest.mark.unit
@pytest.mark.parametrize("name", ["c.json", "c.h5", "c.npy", "c.npz", "c.png", "c.yaml"])
def test_a_corrupt_file_names_its_block_and_path(tmp_path, name):
    files = LocalFiles(basepath=str(tmp_path))
    files.write(name, b"\x00not what the extension says\xff" * 3, "bytes")
    with pytest.raises(CorruptFile) as info:
        files.read(name)
    message = str(info.value)
    assert f"{tmp_path}/{name}" in message and "LocalFiles" in message and "cannot read" in message
    assert isinstance(info.value, ValueError)
    assert str(pickle.loads(pickle.dumps(info.value))) == message


# ---- item 5: an S3 server that never answers fails fast, naming it ----------------------


@pytest.fixture
def silent_server():
    """A TCP server on 127.0.0.1 that accepts connections and never answers; its URL."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except (TimeoutError, OSError):
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join(timeout=5)
    for conn in held:
        conn.close()
    server.close()


@pytest.mark.unit
@pytest.mark.parametrize("operation", ["exists", "ls", "write", "read"])
def test_s3_server_that_never_answers_fails_within_the_block_timeouts(silent_server, operation):
    files = S3Files(
        bucket="lume", endpoint_url=silent_server, aws_access_key_id="k", aws_secret_access_key="s",
        connect_timeout=0.5, read_timeout=0.5, max_attempts=2,
    )
    call = {
        "exists": lambda: files.exists("x.json"),
        "ls": lambda: files.ls(),
        "write": lambda: files.write("x.json", {"a": 1}),
        "read": lambda: files.read("x.json"),
    }[operation]
    started = time.monotonic()
    with pytest.raises(S3Unreachable) as info:
        call()
    elapsed = time.monotonic() - started
    assert elapsed < 10, f"{operation} took {elapsed:.1f} s"
    assert silent_server in str(info.value) and "read 0.5 s, 2 attempts" in str(info.value)
    assert isinstance(info.value, ConnectionError)
    assert "s" not in {info.value.endpoint}  # the secret key is not part of the error
    assert type(pickle.loads(pickle.dumps(info.value))) is S3Unreachable


@pytest.mark.unit
def test_s3_timeouts_have_sane_defaults_and_refuse_nonsense():
    files = S3Files(bucket="lume")
    assert (files.connect_timeout, files.read_timeout, files.max_attempts) == (10.0, 60.0, 3)
    assert list(S3Files.model_fields)[-3:] == ["connect_timeout", "read_timeout", "max_attempts"]
    with pytest.raises(ValueError, match="read_timeout"):
        S3Files(bucket="lume", read_timeout=0)
    with pytest.raises(ValueError, match="max_attempts"):
        S3Files(bucket="lume", max_attempts=0)


# ---- item 6: a missing bucket is an error, not an empty listing --------------------------


@pytest.mark.s3
def test_a_missing_bucket_is_named_not_listed_as_empty(s3_server, s3_bucket):
    missing = make_s3_files(s3_server.endpoint_url, "nope-" + s3_bucket)
    with pytest.raises(FileNotFoundError, match=f"bucket 'nope-{s3_bucket}' does not exist at {s3_server.endpoint_url}"):
        missing.ls()
    with pytest.raises(FileNotFoundError, match="does not exist"):
        missing.exists("a.json")
    present = make_s3_files(s3_server.endpoint_url, s3_bucket)
    assert present.ls() == [] and present.exists("a.json") is False
