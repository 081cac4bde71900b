"""A MountedFiles directory written by a root process worker first, then by a container of the
lume-prefect image (its ``lume`` user), as the README's `chown 1000 host_path` sets it up."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.containers.conftest import podman

pytestmark = pytest.mark.slow
IMAGE_USER = 1000  # the lume user of deployments/Dockerfile
WRITE = "from lume_prefect.files import MountedFiles; print(MountedFiles(host_path={host!r}, mount_path='/data').write({path!r}, {{'by': {who!r}}}).url)"


@pytest.fixture
def host():
    if os.geteuid() != 0:
        pytest.skip("needs root: it stands for a root process worker")
    parent = tempfile.mkdtemp(prefix="lume-shared-")
    os.chmod(parent, 0o755)
    data = Path(parent) / "data"
    data.mkdir()
    os.chown(data, IMAGE_USER, IMAGE_USER)  # the README's setup
    yield data
    shutil.rmtree(parent, ignore_errors=True)


def test_a_container_writes_where_a_root_worker_created_the_directories(host, lume_image):
    first = subprocess.run([sys.executable, "-c", WRITE.format(host=str(host), path="toy-beam/1.0.0/first.json", who="root worker")],
                           capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    assert (host / "toy-beam/1.0.0").stat().st_uid == IMAGE_USER
    second = podman("run", "--rm", "-v", f"{host}:/data", lume_image,
                    "python", "-c", WRITE.format(host=str(host), path="toy-beam/1.0.0/second.json", who="container"), check=False)
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip() == "file:///data/toy-beam/1.0.0/second.json"
    written = host / "toy-beam/1.0.0/second.json"
    assert written.stat().st_uid == IMAGE_USER and written.read_text().strip().startswith("{")
