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
    assert (files.connect_timeout, files.read_timeout, files.max_attempts) == (5.0, 15.0, 3)  # under 90 s an operation (round 2)
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


# ---- round 2 (issue 21) -------------------------------------------------------------------


@pytest.mark.unit
@pytest.mark.parametrize("userinfo", ["lume:PW-21-secret@", "PW-21-secret@", "lume:PW-21-secret:x@"])
def test_credentials_in_the_s3_endpoint_url_are_refused_and_never_printed(userinfo):
    """s3fs's HTTP client refuses credentials in the URL (every call would fail): refused at
    creation, with the URL masked in the message and pydantic's echo of the input left out."""
    with pytest.raises(ValueError, match=r"endpoint_url must not carry credentials \(http://\*\*\*@127.0.0.1:9\)") as info:
        S3Files(bucket="lume", endpoint_url=f"http://{userinfo}127.0.0.1:9")
    assert "PW-21-secret" not in str(info.value) and "PW-21-secret" not in repr(info.value)
    assert S3Files(bucket="lume", endpoint_url="http://127.0.0.1:9/path@x").endpoint_url == "http://127.0.0.1:9/path@x"


@pytest.mark.unit
def test_the_endpoint_in_s3_errors_goes_through_the_url_mask():
    from lume_prefect.core.urls import hide_passwords

    files = S3Files(bucket="lume", endpoint_url="http://127.0.0.1:9")
    assert files._rooted().endpoint == hide_passwords(files.endpoint_url) == "http://127.0.0.1:9"


@pytest.mark.slow
def test_s3_default_patience_is_under_90_seconds_per_operation(silent_server, tmp_path):
    """With the block's defaults, each operation against a server that never answers ends
    within 90 s (they run at once, so the test takes as long as the slowest)."""
    files = S3Files(bucket="lume", endpoint_url=silent_server, aws_access_key_id="k", aws_secret_access_key="s")
    local = tmp_path / "y.json"
    local.write_text("{}")
    operations = {
        "exists": lambda: files.exists("x.json"),
        "ls": lambda: files.ls(),
        "write": lambda: files.write("x.json", {"a": 1}),
        "read": lambda: files.read("x.json"),
        # retried once when the server answered and then failed, not when it never answered
        "upload": lambda: files.upload(str(local), "y.json"),
    }
    elapsed: dict[str, float] = {}
    errors: dict[str, BaseException] = {}

    def timed(name: str) -> None:
        started = time.monotonic()
        try:
            operations[name]()
        except BaseException as exc:  # noqa: BLE001 - recorded and checked below
            errors[name] = exc
        elapsed[name] = time.monotonic() - started

    threads = [threading.Thread(target=timed, args=(name,)) for name in operations]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=150)
    assert set(elapsed) == set(operations), f"still running after 150 s: {set(operations) - set(elapsed)}"
    assert all(isinstance(errors.get(name), S3Unreachable) for name in operations), errors
    assert max(elapsed.values()) < 90, elapsed


@pytest.mark.unit
@pytest.mark.parametrize("prefix", ["../", "..", "a/../../b", "./x", "runs/../.."])
def test_an_s3_prefix_cannot_leave_the_bucket(prefix):
    with pytest.raises(ValueError, match=r"prefix must be a key prefix inside the bucket.*" + repr(prefix).replace(".", r"\.")):
        S3Files(bucket="lume", prefix=prefix)
    assert S3Files(bucket="lume", prefix="runs/2026/").prefix == "runs/2026/"


@pytest.mark.unit
@pytest.mark.parametrize("source", ["missing", "a-directory"])
def test_upload_of_a_missing_path_or_a_directory_creates_nothing(tmp_path, source):
    (tmp_path / "a-directory").mkdir()
    files = LocalFiles(basepath=str(tmp_path / "root"))
    kind = FileNotFoundError if source == "missing" else IsADirectoryError
    with pytest.raises(kind, match=f"cannot upload {tmp_path / source}") as info:
        files.upload(tmp_path / source, "up/deep/x.bin")
    assert info.value.filename == str(tmp_path / source)
    assert not (tmp_path / "root").exists()


@pytest.mark.s3
def test_s3_upload_of_a_missing_path_sends_nothing(s3_server, s3_bucket, tmp_path):
    files = make_s3_files(s3_server.endpoint_url, s3_bucket)
    with pytest.raises(FileNotFoundError, match="no such local file"):
        files.upload(tmp_path / "nope.txt", "up/x.txt")
    assert files.ls(recursive=True) == []


@pytest.mark.unit
@pytest.mark.parametrize("character", ["\n", "\r", "\t", "\x1b", "\x7f", "\x85"])
def test_a_control_character_in_a_file_name_is_refused(tmp_path, character):
    from lume_prefect.files.errors import InvalidFileName

    files = LocalFiles(basepath=str(tmp_path))
    name = f"a{character}b.json"
    for call in (lambda: files.write(name, {"x": 1}), lambda: files.write(f"d{character}/x.json", {"x": 1}), lambda: files.read(name)):
        with pytest.raises(InvalidFileName, match="control character") as info:
            call()
        assert isinstance(info.value, ValueError)
    assert os.listdir(tmp_path) == []
    assert files.write("ünïcode ✓.json", {"x": 1}).path == "ünïcode ✓.json"  # names stay free otherwise


@pytest.mark.unit
@pytest.mark.parametrize("value", [float("nan"), float("inf"), [1.0, float("-inf")]])
def test_json_never_writes_a_nan_token(tmp_path, value):
    from lume_prefect.files.errors import CannotSerialize

    files = LocalFiles(basepath=str(tmp_path))
    with pytest.raises(CannotSerialize, match=r"cannot write .*x\.json as json: NaN and infinities have no JSON form"):
        files.write("x.json", {"v": value})
    assert os.listdir(tmp_path) == []


@pytest.mark.unit
@pytest.mark.parametrize("data, key", [({"a/b": 1}, "'a/b'"), ({1: 2}, "1"), ({"g": {2.5: 1}}, "2.5"), ({"": 1}, "''")])
def test_hdf5_keys_that_would_not_read_back_are_refused(tmp_path, data, key):
    from lume_prefect.files.errors import CannotSerialize

    files = LocalFiles(basepath=str(tmp_path))
    with pytest.raises(CannotSerialize, match=f"key {key} must be a non-empty str without '/'"):
        files.write("x.h5", data)
    assert os.listdir(tmp_path) == []
    assert files.read(files.write("ok.h5", {"a.b": 1, "g": {"c": 2}}).path) == {"a.b": 1, "g": {"c": 2}}


@pytest.mark.unit
def test_a_float_png_with_nan_is_drawn_with_nan_transparent(tmp_path):
    import numpy as np

    files = LocalFiles(basepath=str(tmp_path))
    image = np.linspace(0, 1, 64).reshape(8, 8)
    image[0, 0] = np.nan
    pixels = np.asarray(files.read(files.write("x.png", image).path))
    assert pixels.shape == (8, 8, 4)
    assert pixels[0, 0, 3] == 0  # NaN: transparent
    assert (pixels[..., 3].ravel()[1:] == 255).all()  # every other pixel drawn
    assert len({tuple(p) for p in pixels.reshape(-1, 4)[1:]}) > 10  # and colour-mapped over the finite values


@pytest.mark.unit
@pytest.mark.parametrize("array", ["all nan", "rgb with nan"])
def test_a_float_png_with_nothing_to_draw_is_refused(tmp_path, array):
    import numpy as np

    from lume_prefect.files.errors import CannotSerialize

    data = np.full((4, 4), np.nan) if array == "all nan" else np.where(np.eye(4)[..., None] > 0, np.nan, np.ones((4, 4, 3)))
    files = LocalFiles(basepath=str(tmp_path))
    with pytest.raises(CannotSerialize, match="x.png as png: .*NaN"):
        files.write("x.png", data)
    assert os.listdir(tmp_path) == []


@pytest.mark.unit
def test_download_does_not_create_a_missing_local_directory(tmp_path):
    files = LocalFiles(basepath=str(tmp_path / "root"))
    files.write("a.json", {"x": 1})
    target = tmp_path / "no" / "such" / "dir" / "a.json"
    with pytest.raises(FileNotFoundError, match=f"local directory {tmp_path / 'no' / 'such' / 'dir'} does not exist") as info:
        files.download("a.json", target)
    assert info.value.filename == str(target.parent)
    assert not (tmp_path / "no").exists()
    assert files.download("a.json", tmp_path / "a.json") == str(tmp_path / "a.json")
    files.get_directory(local_path=str(tmp_path / "copy"))  # a directory copy still makes its tree
    assert (tmp_path / "copy" / "a.json").is_file()


@pytest.mark.unit
def test_a_relative_basepath_is_resolved_once(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    files = LocalFiles(basepath="data/runs")
    assert files.basepath == str(tmp_path / "data" / "runs")
    monkeypatch.chdir("/")
    files.write("a.json", {"x": 1})
    assert (tmp_path / "data" / "runs" / "a.json").is_file()
    assert LocalFiles.model_validate(files.model_dump()).basepath == str(tmp_path / "data" / "runs")
    assert LocalFiles(basepath="~/x").basepath == "~/x"  # each user's home: kept as written


@pytest.mark.unit
@pytest.mark.parametrize("older_than", [-5, -0.1, float("nan"), float("inf")])
def test_gc_refuses_a_negative_age(tmp_path, older_than):
    files = LocalFiles(basepath=str(tmp_path))
    with pytest.raises(ValueError, match="older_than must be a number of seconds >= 0"):
        files.collect_garbage(older_than)
    assert files.collect_garbage(0) == []


@pytest.mark.unit
@pytest.mark.parametrize("mount_path", ["/", "//", "/./"])
def test_a_mount_path_of_the_filesystem_root_is_refused(tmp_path, mount_path):
    with pytest.raises(ValueError, match="mount_path must be a directory below '/'"):
        MountedFiles(host_path=str(tmp_path), mount_path=mount_path)
    assert MountedFiles(host_path=str(tmp_path), mount_path="/data").mount_path == "/data"


SERIALIZER_WRITE_ERRORS = {
    "set in JSON": ("x.json", {1, 2}, None, "object of type set is not JSON serializable"),
    "object in YAML": ("x.yaml", {"o": object()}, None, "cannot represent an object"),
    "dict in .npy": ("x.npy", {"a": 1}, None, ""),
    "object array in .npy": ("x.npy", [object(), 1], None, "pickle"),
    "1-D array in PNG": ("x.png", [1, 2, 3], None, "png serializer needs an image"),
    "5 channels in PNG": ("x.png", "five-channels", None, ""),
    "bytes to text": ("x.txt", b"bytes", None, "text serializer needs a str"),
    "int to text": ("x.txt", 3, None, "text serializer needs a str"),
    "str to bytes": ("x.bin", "text", None, "bytes serializer needs bytes"),
    "list to hdf5": ("x.h5", [1, 2], None, "hdf5 serializer needs a dict"),
}


@pytest.mark.unit
@pytest.mark.parametrize("case", list(SERIALIZER_WRITE_ERRORS))
def test_a_serializer_write_error_names_the_block_path_and_serializer(tmp_path, case):
    import numpy as np

    from lume_prefect.files.errors import CannotSerialize

    path, obj, serializer, words = SERIALIZER_WRITE_ERRORS[case]
    if obj == "five-channels":
        obj = np.zeros((4, 4, 5), dtype=np.uint8)
    files = LocalFiles(basepath=str(tmp_path))
    with pytest.raises(CannotSerialize) as info:
        files.write(path, obj, serializer)
    message = str(info.value)
    assert message.startswith(f"LocalFiles ({tmp_path}): cannot write file://{tmp_path}/{path} as "), message
    assert words in message
    assert isinstance(info.value, TypeError) and isinstance(info.value, ValueError)
    assert str(pickle.loads(pickle.dumps(info.value))) == message
    assert os.listdir(tmp_path) == []


@pytest.mark.unit
def test_a_full_disk_names_the_block_and_the_path_and_leaves_nothing(small_disk):
    import errno as errno_codes

    files = LocalFiles(basepath=str(small_disk))
    files.write("small.bin", b"x" * 1000)
    with pytest.raises(OSError) as info:
        files.write("runs/big.bin", b"y" * (4 * 2**20))
    assert info.value.errno == errno_codes.ENOSPC
    assert str(info.value).startswith(f"[Errno 28] LocalFiles ({small_disk}): cannot write {small_disk}/runs/big.bin: No space left on device")
    assert info.value.filename == f"{small_disk}/runs/big.bin"
    assert sorted(os.listdir(small_disk)) == ["small.bin"]  # no temporary file, no empty directory
    source = small_disk.parent / "big-source.bin"
    source.write_bytes(b"z" * (4 * 2**20))
    with pytest.raises(OSError, match=f"LocalFiles .*: cannot write {small_disk}/up.bin: No space left on device"):
        files.upload(source, "up.bin")
    assert sorted(os.listdir(small_disk)) == ["small.bin"]


@pytest.mark.prefect
def test_files_put_get_and_gc_refuse_before_creating_anything(tmp_path, capsys, monkeypatch):
    """The commands as users type them (the CLI's ``main`` in this process, on a saved block)."""
    import sys
    import uuid

    from lume_prefect.cli import main

    root = tmp_path / "root"
    name = f"hardening-{uuid.uuid4().hex[:8]}"
    LocalFiles(basepath=str(root)).save(name)
    LocalFiles(basepath=str(root)).write("a.json", {"x": 1})

    def lume(*args: str) -> tuple[int, str]:
        monkeypatch.setattr(sys, "argv", ["lume-prefect", *args])
        capsys.readouterr()
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        captured = capsys.readouterr()
        return code, (captured.out + captured.err).strip()

    monkeypatch.chdir(tmp_path)
    code, said = lume("files", "put", name, "nope.txt", "x/nope.txt")
    assert code == 1 and "cannot upload nope.txt: no such local file" in said and "\n" not in said
    assert sorted(os.listdir(root)) == ["a.json"]  # no empty x/
    code, said = lume("files", "get", name, "a.json", str(tmp_path / "no" / "dir" / "a.json"))
    assert code == 1 and f"the local directory {tmp_path / 'no' / 'dir'} does not exist" in said
    assert not (tmp_path / "no").exists()
    code, said = lume("files", "gc", name, "--older-than", "-5")
    assert code == 1 and said == "error: --older-than must be a number of seconds >= 0, got -5"
    assert lume("files", "gc", name, "--older-than", "0")[0] == 0
