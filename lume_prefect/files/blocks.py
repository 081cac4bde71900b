"""The file blocks: LocalFiles, MountedFiles and S3Files.

Each is a Prefect ``WritableFileSystem`` (usable as result storage) and
``WritableDeploymentStorage`` (usable as deployment storage). All behaviour lives in
``RootedFiles``; a block only says which filesystem and which root.

Every public method is sync in sync code and awaitable in async code (Prefect's
convention); the explicit async twin is the same name with an ``a`` prefix.
"""

from __future__ import annotations

import abc
import os
from pathlib import Path
from typing import IO, Any, Optional

from prefect.filesystems import WritableDeploymentStorage, WritableFileSystem
from prefect.utilities.filesystem import filter_files

from lume_prefect.core.blocks import ServiceBlock, docs_url, logo_url, sync_or_async
from lume_prefect.core.resolve import resolve

from lume_prefect.files.errors import ChecksumMismatch
from lume_prefect.files.fileref import FileRef
from lume_prefect.files.rooted import RootedFiles
from lume_prefect.files.settings import LocalFilesSettings, MountedFilesSettings, S3FilesSettings

LOGO = logo_url("filesystem")


class FileBlock(WritableFileSystem, WritableDeploymentStorage, ServiceBlock, abc.ABC):
    """What the three file blocks share: the file API over a ``RootedFiles`` (built once per
    configuration per process). Each block's fields, and the ``RootedFiles`` they make
    (``rooted``), are its settings class's (``files/settings.py``), which need no Prefect."""

    # ---- configuration hooks ----------------------------------------------

    def _build(self) -> RootedFiles:
        return self.rooted(self._label())  # type: ignore[attr-defined] - each block's settings class

    def _rooted(self) -> RootedFiles:
        return self._domain()

    def _label(self) -> str:
        if self._block_document_name and not self._is_anonymous:
            return f"{type(self).__name__} {self._block_document_name!r}"
        return type(self).__name__

    def _ref_name(self) -> str | None:
        if self._block_document_name and not self._is_anonymous:
            return f"{self.get_block_type_slug()}/{self._block_document_name}"
        return None

    def _with_block(self, ref: FileRef) -> FileRef:
        return ref.model_copy(update={"block": self._ref_name()})

    # ---- the file API ------------------------------------------------------

    @sync_or_async
    def write(self, path: str | os.PathLike[str], obj: Any, serializer: str | None = None) -> FileRef:
        """Serialize ``obj`` to ``path`` atomically; the serializer is named or chosen by extension."""
        return self._with_block(self._rooted().write(path, obj, serializer))

    @sync_or_async
    def read(self, path: str | os.PathLike[str], serializer: str | None = None) -> Any:
        """Load the object at ``path``; the serializer is named or chosen by extension."""
        return self._rooted().read(path, serializer)

    @sync_or_async
    def exists(self, path: str | os.PathLike[str] = "") -> bool:
        """Whether a file or directory exists at ``path``."""
        return self._rooted().exists(path)

    @sync_or_async
    def ls(self, path: str | os.PathLike[str] = "", recursive: bool = False) -> list[str]:
        """Entries of a directory as paths relative to the root (every file below it if ``recursive``)."""
        return self._rooted().ls(path, recursive)

    @sync_or_async
    def delete(self, path: str | os.PathLike[str], recursive: bool = False) -> None:
        """Delete a file; a directory only with ``recursive=True``."""
        self._rooted().delete(path, recursive)

    @sync_or_async
    def upload(self, local_path: str | os.PathLike[str], path: str | os.PathLike[str], serializer: str | None = None) -> FileRef:
        """Stream a local file to ``path`` in chunks; memory stays bounded whatever its size."""
        return self._with_block(self._rooted().upload(local_path, path, serializer))

    @sync_or_async
    def download(self, path: str | os.PathLike[str], local_path: str | os.PathLike[str]) -> str:
        """Stream ``path`` to a local file in chunks; returns the local file's absolute path."""
        return self._rooted().download(path, local_path)

    @sync_or_async
    def read_ref(self, ref: FileRef, verify: bool = True) -> Any:
        """Load the object a FileRef points at, through this block. With ``verify`` (the
        default) a file whose SHA-256 differs from the recorded one raises ChecksumMismatch
        instead of being deserialized."""
        files = self._rooted()
        if verify:
            actual = files.sha256(ref.path)
            if actual != ref.sha256:
                raise ChecksumMismatch(files.url(ref.path), ref.sha256, actual)
        return files.read(ref.path, ref.serializer)

    def open(self, path: str | os.PathLike[str], mode: str = "rb") -> IO[Any]:
        """A stream on ``path`` (``rb``, ``r``, ``wb``, ``w``); writes appear atomically on close."""
        return self._rooted().open(path, mode)

    def url(self, path: str | os.PathLike[str] = "") -> str:
        """The full location of ``path`` (``file://...`` or ``s3://...``)."""
        return self._rooted().url(path)

    awrite = write.aio
    aread = read.aio
    aexists = exists.aio
    als = ls.aio
    adelete = delete.aio
    aupload = upload.aio
    aread_ref = read_ref.aio
    adownload = download.aio

    # ---- Prefect's WritableFileSystem (result storage) ---------------------

    @sync_or_async
    def read_path(self, path: str) -> bytes:
        """Bytes of the file at ``path`` (Prefect's result-storage interface)."""
        return self._rooted().read(path, "bytes")

    @sync_or_async
    def write_path(self, path: str, content: bytes) -> str:
        """Write bytes to ``path`` atomically (Prefect's result-storage interface)."""
        ref = self._rooted().write(path, content, "bytes")
        return ref.path

    aread_path = read_path.aio
    awrite_path = write_path.aio

    # ---- Prefect's WritableDeploymentStorage -------------------------------

    @sync_or_async
    def get_directory(self, from_path: Optional[str] = None, local_path: Optional[str] = None) -> None:
        """Copy a directory of this block (default: all of it) to ``local_path`` (default: cwd)."""
        files = self._rooted()
        source = files.relative(from_path or "")
        target = Path(local_path or ".").resolve()
        for rel in files.ls(source, recursive=True):
            inside = rel[len(source):].lstrip("/") if source else rel
            (target / inside).parent.mkdir(parents=True, exist_ok=True)  # a directory copy makes its tree
            files.download(rel, target / inside)

    @sync_or_async
    def put_directory(
        self, local_path: Optional[str] = None, to_path: Optional[str] = None, ignore_file: Optional[str] = None
    ) -> int:
        """Copy a local directory (default: cwd) into this block; returns the number of files.

        ``ignore_file`` holds gitignore-style patterns of files to leave out.
        """
        files = self._rooted()
        source = Path(local_path or ".").resolve()
        dest = files.relative(to_path or "")
        patterns = Path(ignore_file).read_text().splitlines() if ignore_file else None
        included = filter_files(root=str(source), ignore_patterns=patterns, include_dirs=False, as_posix=True)
        count = 0
        for rel in sorted(included):
            if (source / rel).is_file():
                files.upload(source / rel, f"{dest}/{rel}" if dest else rel, "bytes")
                count += 1
        return count

    aget_directory = get_directory.aio
    aput_directory = put_directory.aio

    # ---- housekeeping ------------------------------------------------------

    def collect_garbage(self, older_than: float | None = None) -> list[str]:
        """Remove what killed writers left behind; returns the paths cleaned.

        Local and mounted: hidden temporary files that no live writer holds (a writer locks
        its own), whatever their age. S3: unfinished multipart uploads under the prefix
        started more than ``older_than`` seconds ago (default an hour: younger ones may
        still be running). ``lume-prefect files gc`` runs it.
        """
        if older_than is not None and not (isinstance(older_than, (int, float)) and 0 <= older_than < float("inf")):
            raise ValueError(f"older_than must be a number of seconds >= 0, got {older_than!r}")
        files = self._rooted()
        return files.collect_garbage() if older_than is None else files.collect_garbage(older_than)


class LocalFiles(FileBlock, LocalFilesSettings):
    """Files in a directory on this machine.

    Paths are relative to ``basepath``; no path (``..``, an absolute path elsewhere, a
    symlink) can reach outside it. Writes are atomic: a temporary file renamed over the target.

    Examples:
        Load a saved block:
        ```python
        from lume_prefect.files import LocalFiles

        files = LocalFiles.load("BLOCK_NAME")
        ```

        Write and read back model output:
        ```python
        from lume_prefect.files import LocalFiles

        files = LocalFiles(basepath="/data/model-runs")
        ref = files.write("run-1/output.json", {"emittance": 1.2e-6})
        assert files.read("run-1/output.json") == {"emittance": 1.2e-6}
        files.save("runs")                      # now LocalFiles.load("runs") anywhere
        ```
    """

    _block_type_name = "LUME Local Files"
    _block_type_slug = LocalFilesSettings.type_slug
    _description = "Model inputs and outputs in a directory on this machine, with serializers, checksums and atomic writes."
    _documentation_url = docs_url(_block_type_slug)
    _logo_url = LOGO


class MountedFiles(FileBlock, MountedFilesSettings):
    """A directory seen at ``host_path`` on the host and at ``mount_path`` inside a container or job.

    The block works wherever it runs: inside the container (where ``mount_path`` exists)
    it uses ``mount_path``, elsewhere ``host_path``. Paths may be given relative to the
    root or absolute in either form; ``to_host`` and ``to_mount`` translate between them,
    e.g. to hand a path to a container command. With ``create=True`` the host directory
    is created when missing.

    The directory is shared by users: a worker running as root and a container's user
    (``lume``, uid 1000, in the lume-prefect image). Every directory the block creates under
    it takes its mode (setgid included) and, when the creating process is root, its owner
    and group: ``chown 1000 host_path`` (or a group both share, ``chmod 2775``) is then
    enough for the container to write wherever a root worker wrote first.

    Examples:
        Load a saved block:
        ```python
        from lume_prefect.files import MountedFiles

        files = MountedFiles.load("BLOCK_NAME")
        ```

        A directory mounted into a Docker container at /data:
        ```python
        from lume_prefect.files import MountedFiles

        files = MountedFiles(host_path="/scratch/lume", mount_path="/data", create=True)
        files.write("inputs/lattice.yaml", {"quads": [1.0, -1.0]})
        files.to_mount("/scratch/lume/inputs/lattice.yaml")   # '/data/inputs/lattice.yaml'
        ```
    """

    _block_type_name = "LUME Mounted Files"
    _block_type_slug = MountedFilesSettings.type_slug
    _description = "A host directory also mounted into containers or batch jobs at another path; maps paths both ways."
    _documentation_url = docs_url(_block_type_slug)
    _logo_url = LOGO

    def model_post_init(self, context: Any, /) -> None:
        # pydantic takes the first base's post-init (Block's), which would skip the settings' one
        MountedFilesSettings.model_post_init(self, context)

    @property
    def volume(self) -> str:
        """The bind mount of this directory as a container engine writes it: ``host_path:mount_path``."""
        return f"{self.host_path}:{self.mount_path}"

    def to_host(self, path: str | os.PathLike[str]) -> str:
        """The absolute host path of ``path`` (relative, or absolute in either form)."""
        rel = self._rooted().relative(path)
        return os.path.join(self.host_path, rel) if rel else self.host_path

    def to_mount(self, path: str | os.PathLike[str]) -> str:
        """The absolute path of ``path`` inside the container or job."""
        rel = self._rooted().relative(path)
        return os.path.join(self.mount_path, rel) if rel else self.mount_path


class S3Files(FileBlock, S3FilesSettings):
    """Objects in an S3 bucket (AWS, MinIO, Ceph or any S3-compatible server) through s3fs.

    Paths are keys under ``prefix``; no path can reach outside it. An object appears only
    when its upload completes; a failed upload is aborted and leaves nothing behind.

    Examples:
        Load a saved block:
        ```python
        from lume_prefect.files import S3Files

        files = S3Files.load("BLOCK_NAME")
        ```

        A MinIO server at a facility:
        ```python
        from lume_prefect.files import S3Files

        files = S3Files(bucket="lume", prefix="runs", endpoint_url="http://minio:9000",
                        aws_access_key_id="lume", aws_secret_access_key="...")
        files.save("facility-s3")
        files.write("run-1/screen.png", image_array)
        ```
    """

    _block_type_name = "LUME S3 Files"
    _block_type_slug = S3FilesSettings.type_slug
    _description = "Model inputs and outputs in an S3 or S3-compatible bucket (AWS, MinIO, Ceph), streamed in chunks."
    _documentation_url = docs_url(_block_type_slug)
    _logo_url = LOGO


def block_of(ref: FileRef) -> FileBlock:
    """The saved file block ``ref`` was written through.

    Only a block gives a root: a root guessed from ``ref.url`` would let a crafted FileRef
    (``url="file:///etc/passwd"``) read anything on the machine, so a FileRef of an unsaved
    block is read by passing its block."""
    if ref.block is None:
        raise ValueError(f"FileRef for {ref.url or ref.path!r} names no saved block; pass block=... or write through a saved block")
    return resolve(ref.block, "files")


def read_ref(ref: FileRef, block: Optional[FileBlock] = None, *, verify: bool = True) -> Any:
    """Load the object ``ref`` points at, through ``block`` or the block it was written
    through (``block_of``); see ``FileBlock.read_ref``."""
    return (block if block is not None else block_of(ref)).read_ref(ref, verify, _sync=True)
