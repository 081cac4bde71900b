"""Profiles: what is not a profile is refused before it is read; a secret written in the file
(around a variable, or as a variable's default) is refused and never printed."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from lume_prefect.profiles import ProfileError, build_blocks, read_profile
from tests.components import venv_script

pytestmark = pytest.mark.unit


def lume(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([venv_script("lume-prefect"), *args], capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})})


@pytest.mark.parametrize("special", ["/dev/urandom", "/dev/zero", "fifo", "directory"])
def test_what_is_not_a_regular_file_is_refused_before_reading(special, tmp_path):
    if special == "fifo":
        special = str(tmp_path / "profile.yaml")
        os.mkfifo(special)  # reading it would block forever
    elif special == "directory":
        special = str(tmp_path)
    started = time.monotonic()
    with pytest.raises(ProfileError, match="not a regular file"):
        read_profile(special)
    assert time.monotonic() - started < 5


def test_a_huge_file_is_refused_before_parsing(tmp_path):
    huge = tmp_path / "huge.yaml"
    huge.write_text("blocks:\n" + "#" * (2 * 1024 * 1024))
    with pytest.raises(ProfileError, match="too large for a profile"):
        read_profile(huge)


def test_apply_of_a_device_exits_with_one_line_not_a_memory_blowup():
    done = lume("profiles", "apply", "/dev/urandom", "--dry-run")
    assert done.returncode == 1
    assert done.stderr.strip().count("\n") == 0 and "not a regular file" in done.stderr


SECRET_IN_FILE = {
    "a default holding a password": '"${UNSET_X_LUME:-postgresql+psycopg://u:PW1secret@db/x}"',
    "a password around a variable": '"postgresql+psycopg://u:PW2secret@db/${DB_LUME}"',
    "a password half from a variable": '"postgresql+psycopg://u:PW3secret${DB_LUME}@db/x"',
    "a key around a variable": '"PW4secret${DB_LUME}"',
    "a key as a default": '"${UNSET_X_LUME:-PW5secret}"',
}


def profile(tmp_path, url: str):
    path = tmp_path / "p.yaml"
    path.write_text(f"blocks:\n  reg:\n    type: lume-model-registry\n    fields:\n      url: {url}\n")
    return path


@pytest.mark.parametrize("case", list(SECRET_IN_FILE))
def test_a_secret_written_in_the_file_is_refused_and_never_printed(case, tmp_path, monkeypatch):
    monkeypatch.setenv("DB_LUME", "lume")
    monkeypatch.delenv("UNSET_X_LUME", raising=False)
    path = profile(tmp_path, SECRET_IN_FILE[case])
    with pytest.raises(ProfileError, match="field 'url' is secret") as info:
        build_blocks(read_profile(path))
    assert "secret" in str(info.value) and "PW" not in str(info.value)
    shown = lume("profiles", "show", str(path), env={"DB_LUME": "lume"})
    assert shown.returncode == 1
    assert "PW" not in shown.stdout + shown.stderr


@pytest.mark.parametrize(
    "url",
    [
        '"${LUME_URL_X}"',
        '"postgresql+psycopg://u:${DB_PASSWORD_X}@db/x"',
        '"${LUME_URL_X:-sqlite:////tmp/registry.db}"',
        '"sqlite:///${DB_LUME}/registry.db"',
        '"postgresql+psycopg://u@db/${DB_LUME}"',
    ],
)
def test_secrets_from_the_environment_are_still_accepted(url, tmp_path, monkeypatch):
    monkeypatch.setenv("DB_LUME", "lume")
    monkeypatch.setenv("LUME_URL_X", "sqlite:////tmp/x.db")
    monkeypatch.setenv("DB_PASSWORD_X", "pw")
    blocks = build_blocks(read_profile(profile(tmp_path, url)))
    assert set(blocks) == {"reg"}


# ---- issue 21 -------------------------------------------------------------------------------


def write(tmp_path, text: str | bytes):
    path = tmp_path / "p.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def test_a_yaml_merge_key_merges_and_a_key_beside_it_overrides(tmp_path):
    path = write(tmp_path, (
        "blocks:\n"
        "  a: &files\n    type: lume-local-files\n    fields:\n      basepath: /tmp/a\n"
        "  b:\n    <<: *files\n"
        "  c:\n    <<: *files\n    fields:\n      basepath: /tmp/c\n"
    ))
    built = build_blocks(read_profile(path), {})
    assert {name: block.basepath for name, block in built.items()} == {"a": "/tmp/a", "b": "/tmp/a", "c": "/tmp/c"}
    with pytest.raises(ProfileError, match="appears twice"):  # a key written twice is still refused
        read_profile(write(tmp_path, "blocks:\n  a:\n    type: lume-local-files\n    type: lume-local-files\n"))


@pytest.mark.parametrize(
    "text, problem",
    [
        ("blocks:\n  a:\n    type: lume-local-files\n    fields:\n      basepath: " + "[" * 5000 + "]" * 5000 + "\n", "nested too deeply to read"),
        (b"blocks:\n  a:\n    type: lume-local-files # caf\xe9\n", "not UTF-8 text: byte 0xe9 at offset 45"),
        ("blocks:\n  Bad Name!:\n    type: lume-local-files\n", "block 'Bad Name!': a block document's name is lowercase letters, digits and dashes"),
    ],
    ids=["5,000 deep", "Latin-1", "bad block name"],
)
def test_an_unreadable_profile_names_the_file(tmp_path, text, problem):
    path = write(tmp_path, text)
    with pytest.raises(ProfileError) as info:
        read_profile(path)
    assert str(info.value).startswith(f"{path}: ") and problem in str(info.value)
    done = lume("profiles", "apply", str(path), "--dry-run")
    assert done.returncode == 1 and problem in done.stderr and str(path) in done.stderr


def test_an_environment_value_with_a_newline_is_not_substituted(tmp_path):
    path = write(tmp_path, "blocks:\n  a:\n    type: lume-local-files\n    fields:\n      basepath: ${LUME_EVIL}\n")
    evil = "/tmp/x\nblocks:\n  b:\n    type: lume-local-files"
    with pytest.raises(ProfileError, match="environment variable LUME_EVIL holds a newline"):
        build_blocks(read_profile(path), {"LUME_EVIL": evil})
    done = lume("profiles", "apply", str(path), "--dry-run", env={"LUME_EVIL": evil})
    assert done.returncode == 1 and "LUME_EVIL holds a newline" in done.stderr and "valid:" not in done.stdout
    # a multi-line secret taken whole from one variable (a private key) is still accepted
    key = "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----\n"
    slurm = write(tmp_path, "blocks:\n  hpc:\n    type: lume-slurm-cluster\n    fields:\n      transport: ssh\n      host: h\n      user: u\n      working_dir: /tmp/lume\n      private_key: ${LUME_KEY}\n")
    built = build_blocks(read_profile(slurm), {"LUME_KEY": key})
    assert built["hpc"].private_key.get_secret_value() == key
