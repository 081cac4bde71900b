"""A MountedFiles directory shared by a root worker and a container's user (issue 19.5): the
directories the file service creates under it take its owner (when created by root) and
its mode, so the other user can write into them. The container run itself is in
tests/containers/test_shared_directories.py."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from lume_prefect.files import MountedFiles

pytestmark = pytest.mark.unit
IMAGE_USER = 1000  # the lume user of deployments/Dockerfile
OTHER_GROUP = 4242


def as_user(uid: int, gid: int, code: str, *groups: int) -> subprocess.CompletedProcess:
    """``code`` run by python as ``uid``:``gid`` (with ``groups``), as a container's user would,
    with a home of its own (the container user's Prefect settings are not root's)."""
    home = tempfile.mkdtemp(prefix="lume-user-home-")
    os.chown(home, uid, gid)
    extra = ["--groups", ",".join(map(str, groups))] if groups else ["--clear-groups"]
    env = {**os.environ, "HOME": home, "PREFECT_HOME": f"{home}/.prefect", "LUME_PREFECT_HOME": f"{home}/.lume"}
    try:
        return subprocess.run(["setpriv", "--reuid", str(uid), "--regid", str(gid), *extra, sys.executable, "-c", code],
                              capture_output=True, text=True, timeout=120, env=env)
    finally:
        shutil.rmtree(home, ignore_errors=True)


WRITE = "from lume_prefect.files import MountedFiles; MountedFiles(host_path={host!r}, mount_path='/data').write({path!r}, {{'by': 'container'}})"


@pytest.fixture
def host():
    """Where the host path goes: in a directory every user may pass through (pytest's
    tmp_path is root's alone)."""
    if os.geteuid() != 0:
        pytest.skip("needs root: it stands for a root process worker")
    parent = tempfile.mkdtemp(prefix="lume-shared-")
    os.chmod(parent, 0o755)
    yield Path(parent) / "data"
    shutil.rmtree(parent, ignore_errors=True)


def test_directories_a_root_worker_creates_belong_to_the_owner_of_the_host_path(host):
    host.mkdir()
    os.chown(host, IMAGE_USER, IMAGE_USER)  # what the README says to do
    files = MountedFiles(host_path=str(host), mount_path="/data")
    files.write("toy-beam/1.0.0/first.json", {"by": "root"})  # a root process worker, first
    for directory in (host / "toy-beam", host / "toy-beam/1.0.0"):
        info = directory.stat()
        assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (IMAGE_USER, IMAGE_USER, 0o755)
    wrote = as_user(IMAGE_USER, IMAGE_USER, WRITE.format(host=str(host), path="toy-beam/1.0.0/second.json"))
    assert wrote.returncode == 0, wrote.stderr
    assert files.read("toy-beam/1.0.0/second.json") == {"by": "container"}
    assert files.read("toy-beam/1.0.0/first.json") == {"by": "root"}


def test_a_shared_group_with_setgid_reaches_every_new_directory(host):
    host.mkdir()
    os.chown(host, 0, OTHER_GROUP)
    os.chmod(host, 0o2775)  # the group both users share may write, and new entries inherit it
    MountedFiles(host_path=str(host), mount_path="/data").write("a/b/first.json", {"by": "root"})
    for directory in (host / "a", host / "a/b"):
        info = directory.stat()
        assert (info.st_gid, stat.S_IMODE(info.st_mode)) == (OTHER_GROUP, 0o2775)
    wrote = as_user(IMAGE_USER, IMAGE_USER, WRITE.format(host=str(host), path="a/b/second.json"), OTHER_GROUP)
    assert wrote.returncode == 0, wrote.stderr


def test_a_user_who_may_not_write_the_host_path_gets_a_clear_error_and_no_directory(host):
    host.mkdir()  # root's, 0755: the container's user may not write it
    refused = as_user(IMAGE_USER, IMAGE_USER, WRITE.format(host=str(host), path="x/y/z.json"))
    assert refused.returncode != 0 and "PermissionError" in refused.stderr and f"cannot write {host}/x/y/z.json" in refused.stderr
    assert list(host.iterdir()) == []
