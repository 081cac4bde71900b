"""Path safety and path mapping: nothing can leave a block's root."""

from __future__ import annotations

import os

import pytest

from lume_prefect.files import LocalFiles, MountedFiles, PathOutsideRoot, S3Files

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("bad", ["../x.json", "a/../../x.json", "/etc/passwd.json", "file:///etc/x.json", "a\x00b.json"])
def test_local_paths_outside_root_are_refused_and_nothing_is_written(tmp_path, bad):
    root = tmp_path / "root"
    files = LocalFiles(basepath=str(root))
    with pytest.raises(PathOutsideRoot) as info:
        files.write(bad, {"x": 1})
    assert repr(bad)[1:-1] in str(info.value) and str(root) in str(info.value)
    assert isinstance(info.value, ValueError)
    assert not (tmp_path / "x.json").exists()
    assert not root.exists() or not any(root.rglob("*"))


def test_symlink_leading_out_of_the_root_is_refused(tmp_path):
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "escape").symlink_to(outside)
    files = LocalFiles(basepath=str(root))
    with pytest.raises(PathOutsideRoot, match="escape/data.json"):
        files.write("escape/data.json", {"x": 1})
    with pytest.raises(PathOutsideRoot):
        files.read("escape/data.json")
    assert list(outside.iterdir()) == []


def test_absolute_and_url_paths_inside_the_root_are_accepted(tmp_path):
    files = LocalFiles(basepath=str(tmp_path))
    ref = files.write(str(tmp_path / "a" / "b.txt"), "hello")
    assert ref.path == "a/b.txt"
    assert files.read(f"file://{tmp_path}/a/b.txt") == "hello"
    assert files.read("a/./c/../b.txt") == "hello"


def test_mounted_files_map_paths_both_ways(tmp_path):
    host = tmp_path / "host"
    files = MountedFiles(host_path=str(host), mount_path="/data", create=True)
    assert host.is_dir()
    assert files.to_mount(str(host / "in" / "lattice.yaml")) == "/data/in/lattice.yaml"
    assert files.to_host("/data/in/lattice.yaml") == str(host / "in" / "lattice.yaml")
    assert files.to_host("in/lattice.yaml") == str(host / "in" / "lattice.yaml")
    files.write("/data/in/lattice.yaml", {"k1": 2.0})  # a container path, written on the host side
    assert (host / "in" / "lattice.yaml").is_file()
    assert files.read(str(host / "in" / "lattice.yaml")) == {"k1": 2.0}
    with pytest.raises(PathOutsideRoot):
        files.to_mount("/data/../etc/passwd")
    with pytest.raises(PathOutsideRoot):
        files.to_host("/elsewhere/file")


def test_mounted_files_without_create_do_not_make_the_directory(tmp_path):
    files = MountedFiles(host_path=str(tmp_path / "missing"), mount_path="/data")
    assert not files.exists("")
    assert not (tmp_path / "missing").exists()


def test_mounted_files_use_the_mount_path_inside_the_container(tmp_path):
    mount = tmp_path / "mnt"
    mount.mkdir()
    files = MountedFiles(host_path="/nonexistent/host/dir", mount_path=str(mount))
    files.write("x.txt", "inside")
    assert (mount / "x.txt").read_text() == "inside"
    assert files.to_host(str(mount / "x.txt")) == "/nonexistent/host/dir/x.txt"


def test_mounted_files_require_absolute_paths():
    with pytest.raises(ValueError, match="host_path must be an absolute path"):
        MountedFiles(host_path="relative/dir", mount_path="/data")


@pytest.mark.parametrize("bad", ["../other/x.json", "/other-bucket/x.json", "s3://other-bucket/x.json", "s3://bucket/elsewhere/x.json"])
def test_s3_keys_outside_the_prefix_are_refused(bad):
    files = S3Files(bucket="bucket", prefix="runs", endpoint_url="http://127.0.0.1:9")
    with pytest.raises(PathOutsideRoot):
        files._rooted().relative(bad)
    assert files._rooted().relative("s3://bucket/runs/a/b.json") == "a/b.json"
    assert files._rooted().full_path("a/../b.json") == "bucket/runs/b.json"


def test_s3_bucket_name_is_validated():
    with pytest.raises(ValueError, match="bucket"):
        S3Files(bucket="a/b")


def test_paths_accept_pathlike(tmp_path):
    files = LocalFiles(basepath=tmp_path)
    files.write(tmp_path / "p.json", [1])
    assert files.read(os.path.join(str(tmp_path), "p.json")) == [1]
