"""The hardening matrix: bad inputs that must be clear errors, faults that must be survived.

One module per service; every test here failed before its fix (issue 11).
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def private_postgres():
    """A throwaway PostgreSQL cluster on a free port that tests may restart (never the shared one)."""
    from tests.hardening.postgres_cluster import PrivatePostgres

    server = PrivatePostgres()
    yield server
    server.remove()


def _mount(*args: str) -> None:
    import subprocess

    from tests.components import require

    done = subprocess.run(["mount", *args], capture_output=True, text=True)
    if done.returncode != 0:
        require("mount (root, to make a small or read-only filesystem)", f"root privileges: mount {' '.join(args)} said {done.stderr.strip()}")


def _unmount(path) -> None:
    import subprocess

    subprocess.run(["umount", "-l", str(path)], check=False, capture_output=True)


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MiB tmpfs (a real, small filesystem that fills up); its directory. Unmounted after."""
    path = tmp_path / "small-disk"
    path.mkdir()
    _mount("-t", "tmpfs", "-o", "size=2m", "tmpfs", str(path))
    yield path
    _unmount(path)


@pytest.fixture
def read_only_mount(tmp_path):
    """(a writable directory, the same directory bind-mounted read-only): what a read-only
    mount of a data directory looks like. Unmounted after."""
    source, view = tmp_path / "source", tmp_path / "read-only"
    source.mkdir()
    view.mkdir()
    _mount("--bind", str(source), str(view))
    _mount("-o", "remount,bind,ro", str(view))
    yield source, view
    _unmount(view)
