"""The source hash covers a model's source and data files, not what runs write beside them:
``.lumeignore`` and git's ignore rules (of a real git work tree) are honoured."""

from __future__ import annotations

import subprocess
import uuid

import pytest

from lume_prefect.models.source_files import source_files, source_sha256

pytestmark = pytest.mark.unit


def folder(root, files: dict[str, str]):
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_lumeignore_leaves_out_what_runs_write_and_keeps_what_it_re_includes(tmp_path):
    source = folder(tmp_path / "model", {"model.py": "x = 1\n", "data/lattice.json": "{}", ".lumeignore": "*.log\nruns/\n!keep.log\n"})
    before = source_sha256(str(source))
    folder(source, {"run.log": "step 1\n", "runs/7/out.h5": "h5", "data/run.log": "step 2\n"})

    assert source_sha256(str(source)) == before
    assert source_files(source) == [".lumeignore", "model.py", "data/lattice.json"]
    folder(source, {"keep.log": "a file the model reads"})
    assert source_sha256(str(source)) != before and "keep.log" in source_files(source)


def test_a_deeper_ignore_file_applies_to_its_folder(tmp_path):
    source = folder(tmp_path / "model", {"model.py": "", "sub/.lumeignore": "*.csv\n", "sub/a.csv": "", "b.csv": ""})
    assert source_files(source) == ["b.csv", "model.py", "sub/.lumeignore"]


def test_gits_ignore_rules_of_the_work_tree_apply_from_above_the_source(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    folder(repo, {".gitignore": "*.log\n/models/quad/scratch/\n", "models/quad/model.py": "", "models/quad/.gitignore": "*.tmp\n"})
    (repo / ".git" / "info").mkdir(exist_ok=True)
    (repo / ".git" / "info" / "exclude").write_text("*.bak\n")
    source = repo / "models" / "quad"
    folder(source, {"out.log": "", "x.tmp": "", "y.bak": "", "scratch/a.py": "", "data.txt": ""})

    assert source_files(source) == [".gitignore", "data.txt", "model.py"]
    listed = subprocess.run(["git", "-C", str(source), "ls-files", "--others", "--exclude-standard"], capture_output=True, text=True, check=True)
    assert sorted(listed.stdout.split()) == [".gitignore", "data.txt", "model.py"]  # what git itself leaves out


def test_a_source_without_ignore_files_keeps_the_hash_it_had(tmp_path):
    import hashlib

    source = folder(tmp_path / "model", {"model.py": "x = 1\n", "b/z.txt": "z", "a.txt": "a", "__pycache__/m.pyc": "", "c.pyc": ""})
    digest = hashlib.sha256()
    for name in ["a.txt", "model.py", "b/z.txt"]:  # the order and bytes of the hash before ignore rules
        digest.update(name.encode() + b"\0" + hashlib.sha256((source / name).read_bytes()).digest())
    assert source_sha256(str(source)) == digest.hexdigest()


@pytest.mark.prefect
def test_a_log_written_into_the_model_folder_is_no_source_conflict(tmp_path):
    from lume_prefect.models.deploy import register_model_version
    from tests.models.conftest import temp_services
    from tests.scans.conftest import write_quad

    name = f"quad-{uuid.uuid4().hex[:6]}"
    source = write_quad(tmp_path / "quad", name)
    (source / ".lumeignore").write_text("*.log\n")
    services = temp_services(tmp_path / "services")
    assert register_model_version("model.py:quad", str(source), services=services) is True
    (source / "run.log").write_text("the model logged here\n")
    assert register_model_version("model.py:quad", str(source), services=services) is False  # the same version, no SourceConflict

    from lume_prefect.models.errors import SourceConflict

    (source / "model.py").write_text((source / "model.py").read_text() + "\n# changed\n")
    with pytest.raises(SourceConflict, match=name):
        register_model_version("model.py:quad", str(source), services=services)
