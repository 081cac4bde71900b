"""The files of a model's source that make its version, and their hash.

A version's ``sha256`` covers the model's source and data files, not what a run writes beside
them. Every file of the source directory counts, except:

- ``.git``, ``__pycache__``, ``.venv``, ``.pytest_cache``, ``node_modules`` and ``*.pyc``/``*.pyo``;
- what a ``.lumeignore`` ignores (gitignore syntax; in the source folder or any folder below,
  each applying to its folder, as ``.gitignore`` files do);
- where the source is inside a git work tree, what git's ignore rules of that work tree
  ignore: its ``.gitignore`` files from the work tree's root down and ``.git/info/exclude``
  (not a user's global excludes file: the hash must not depend on who computes it).

The later, deeper rule wins, ``.lumeignore`` over ``.gitignore``; a file in an ignored folder
is ignored. The patterns are read by ``pathspec``'s ``GitIgnoreSpec`` (git's own semantics).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Optional

IGNORED_DIRS = {".git", "__pycache__", ".venv", ".pytest_cache", "node_modules"}
IGNORE_FILE = ".lumeignore"
GIT_IGNORE_FILE = ".gitignore"


class _Rules:
    """The ignore files in force in a folder, outermost first: (where their paths start, patterns)."""

    def __init__(self, rules: list[tuple[str, Any]]):
        self.rules = rules

    def below(self, folder: Path, relative: str, names: list[str]) -> _Rules:
        """The rules in force in ``folder`` (at ``relative`` from the source): these plus its own ignore files."""
        added = [(relative, spec) for name in (GIT_IGNORE_FILE, IGNORE_FILE) if name in names and (spec := _read(folder / name)) is not None]
        return _Rules(self.rules + added) if added else self

    def ignores(self, path: str) -> bool:
        """Whether ``path`` (relative to the source, ``/``-separated; a folder ends with ``/``) is ignored."""
        ignored = False
        for start, spec in self.rules:
            if start.startswith("../"):  # an ignore file above the source: its paths include the source's folder
                within = start[3:] + path
            elif start:
                if not path.startswith(start):
                    continue
                within = path[len(start):]
            else:
                within = path
            decided = spec.check_file(within).include
            if decided is not None:
                ignored = decided
        return ignored


def _read(path: Path) -> Any:
    from pathspec import GitIgnoreSpec

    try:
        return GitIgnoreSpec.from_lines(path.read_text(encoding="utf-8", errors="replace").splitlines())
    except OSError:
        return None


def _git_rules(root: Path) -> list[tuple[str, Any]]:
    """The rules of the git work tree holding ``root`` that apply above it: ``.git/info/exclude``
    and the ``.gitignore`` files of the folders from the work tree's root down to ``root``'s parent."""
    folders = []
    for folder in [root, *root.parents]:
        folders.append(folder)
        if (folder / ".git").exists():
            break
    else:
        return []  # not in a git work tree
    top = folders[-1]
    rules = []
    exclude = top / ".git" / "info" / "exclude"
    for folder, ignore in [(top, exclude), *((f, f / GIT_IGNORE_FILE) for f in reversed(folders[1:]))]:
        spec = _read(ignore) if ignore.is_file() else None
        if spec is not None:
            # paths of the source, seen from ``folder``: "../<root relative to folder>/"
            rules.append(("../" + root.relative_to(folder).as_posix() + "/", spec))
    return rules


def source_files(source: str | os.PathLike[str]) -> list[str]:
    """The files of a source directory that its hash covers, as ``/``-separated relative paths in
    the order they are hashed: a folder's files by name, then its folders' by name (the order of
    the hash before ignore rules, so a source without them keeps its hash)."""
    root = Path(source).resolve()
    found: list[str] = []
    rules_of: dict[str, _Rules] = {"": _Rules(_git_rules(root))}
    for folder, dirs, files in os.walk(root):
        relative = Path(folder).relative_to(root).as_posix()
        prefix = "" if relative == "." else relative + "/"
        rules = rules_of.pop(prefix).below(Path(folder), prefix, files)
        kept = []
        for name in sorted(dirs):
            if name not in IGNORED_DIRS and not rules.ignores(f"{prefix}{name}/"):
                kept.append(name)
                rules_of[f"{prefix}{name}/"] = rules
        dirs[:] = kept
        for name in sorted(files):
            if not name.endswith((".pyc", ".pyo")) and not rules.ignores(prefix + name):
                found.append(prefix + name)
    return found


def source_sha256(source: str) -> Optional[str]:
    """SHA-256 of a local source: a file's bytes, or the relative paths and contents of a
    directory's ``source_files``; None for a remote source."""
    path = Path(source)
    if path.is_file():
        return hashlib.sha256(path.read_bytes()).hexdigest()
    if not path.is_dir():
        return None
    digest = hashlib.sha256()
    for name in source_files(path):
        digest.update(name.encode() + b"\0")
        digest.update(hashlib.sha256((path / name).read_bytes()).digest())
    return digest.hexdigest()
