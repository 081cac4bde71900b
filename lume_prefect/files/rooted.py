"""A directory tree on one fsspec filesystem, seen from its root.

This is the whole file service without Prefect: path safety, atomic writes, streaming,
serializers and checksums. The three file blocks only choose the filesystem and the root.

Atomic writes: a local file is written to a hidden temporary file beside its target and
renamed over it; an S3 object is created only when its upload completes (a one-shot PUT
or a completed multipart upload), and a failed upload is aborted. Either way a reader sees
the old content or the new, never a part.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import io
import mimetypes
import os
import posixpath
import re
import shutil
import stat
import tempfile
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import IO, Any

from lume_prefect.files.errors import CannotSerialize, CorruptFile, InvalidFileName, PathOutsideRoot, S3Unreachable
from lume_prefect.files.fileref import FileRef
from lume_prefect.files.serializers import CHUNK_SIZE, Serializer, get_serializer, serializer_for

TEMP_MARKER = ".lume-tmp-"
# Formats that must seek while writing are spooled; beyond this size the spool is on disk.
SPOOL_MEMORY = 16 * 1024 * 1024
# Remote transfers of whole files: parts in flight at once, and their size (memory bound).
TRANSFER_CHUNK = 8 * 1024 * 1024
TRANSFER_CONCURRENCY = 2
# attempts of a whole upload of a local file to S3 (each request also has the block's max_attempts)
UPLOAD_ATTEMPTS = 2
# C0, DEL and C1 control characters: never part of a file name
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
# Errors of the disk under a write, reported naming the block and the path
_DISK_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EIO}
# Longest file name (bytes) of the filesystems we write to, and of a whole path.
NAME_MAX = 255
PATH_MAX = 4096
# An empty temporary file younger than this may belong to a writer that has created it
# and not yet locked it: never taken for stale.
FRESH_TEMP_S = 2.0


class AtomicWriter(io.RawIOBase):
    """A write-only binary stream that becomes visible only when closed without error.

    It counts and hashes what passes through it, so the FileRef of a streamed write
    knows its size and SHA-256 without reading the file back.
    """

    def __init__(self, raw: Any, commit: Callable[[], None], discard: Callable[[], None]):
        super().__init__()
        self._raw = raw
        self._commit = commit
        self._discard = discard
        self._sha256 = hashlib.sha256()
        self._discarded = False
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        if not self._discarded:
            self._raw.write(view)
            self._sha256.update(view)
            self.size += view.nbytes
        return view.nbytes

    def tell(self) -> int:
        return self.size

    @property
    def sha256(self) -> str:
        return self._sha256.hexdigest()

    def discard(self) -> None:
        """Drop everything written; the target keeps its previous content (or stays absent)."""
        if not self._discarded and not self.closed:
            self._discarded = True
            self._discard()

    def close(self) -> None:
        if self.closed:
            return
        try:
            if not self._discarded:
                self._commit()
        except BaseException:
            self.discard()
            raise
        finally:
            super().close()

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None:
            self.discard()
        self.close()


class _AtomicTextWriter(io.TextIOWrapper):
    """Text mode over an AtomicWriter: an exception inside ``with`` discards the file."""

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None:
            self.buffer.discard()
        return super().__exit__(exc_type, exc, tb)


class RootedFiles:
    """Files under one root of an fsspec filesystem; no path can leave the root.

    Args:
        fs: the fsspec filesystem.
        root: the root directory (local path, or ``bucket/prefix`` for S3).
        label: how errors name this tree (the block's type and name).
        aliases: other absolute roots that name the same tree (a mount point),
            accepted in paths and mapped onto ``root``.
        protocol: URL scheme for ``url()`` (``file`` or ``s3``).
    """

    local = False

    def __init__(
        self,
        fs: Any,
        root: str,
        *,
        label: str,
        aliases: Iterable[str] = (),
        protocol: str = "file",
    ):
        self.fs = fs
        self.root = self._normalise_root(root)
        self.label = label
        self.aliases = [self._normalise_root(a) for a in aliases]
        self.protocol = protocol

    # ---- paths -------------------------------------------------------------

    @staticmethod
    def _normalise_root(root: str) -> str:
        return posixpath.normpath(root) if root else ""

    def _strip_scheme(self, path: str) -> str:
        # "file:///data/x" and "s3://bucket/key" are absolute paths of this tree's filesystem
        prefix = f"{self.protocol}://"
        return "/" + path[len(prefix):].lstrip("/") if path.startswith(prefix) else path

    def relative(self, path: str | os.PathLike[str]) -> str:
        """``path`` (relative, absolute under the root or an alias, or a URL) relative to the root.

        Raises PathOutsideRoot for anything that would leave the root.
        """
        text = os.fspath(path)
        if not isinstance(text, str):
            raise TypeError(f"path must be a str or os.PathLike of str, got {type(path).__name__}")
        if "\x00" in text:
            raise PathOutsideRoot(text, self.root)
        control = _CONTROL.search(text)
        if control:  # a newline in a name would forge an entry in every listing
            raise InvalidFileName(text, control.group())
        candidate = self._strip_scheme(text)
        if self._is_absolute(candidate):
            full = posixpath.normpath(candidate)
            for base in [self.root, *self.aliases]:
                rel = self._under(full, self._absolute_form(base))
                if rel is not None:
                    return self._check(text, rel)
            raise PathOutsideRoot(text, self.root)
        full = posixpath.normpath(posixpath.join(self._absolute_form(self.root), candidate))
        rel = self._under(full, self._absolute_form(self.root))
        if rel is None:
            raise PathOutsideRoot(text, self.root)
        return self._check(text, rel)

    def _is_absolute(self, path: str) -> bool:
        return path.startswith("/")

    def _absolute_form(self, root: str) -> str:
        return root

    @staticmethod
    def _under(full: str, base: str) -> str | None:
        if full == base:
            return ""
        prefix = base.rstrip("/") + "/"
        return full[len(prefix):] if full.startswith(prefix) else None

    def _check(self, original: str, rel: str) -> str:
        return rel

    def full_path(self, path: str | os.PathLike[str]) -> str:
        """The path on the filesystem (what fsspec is given)."""
        rel = self.relative(path)
        return posixpath.join(self.root, rel) if rel else self.root

    def url(self, path: str | os.PathLike[str] = "") -> str:
        return f"{self.protocol}://{self.full_path(path)}"

    def _not_found(self, full: str) -> FileNotFoundError:
        return FileNotFoundError(errno.ENOENT, f"{self.label}: no such file {self.protocol}://{full}", full)

    # ---- streaming ---------------------------------------------------------

    def _open_atomic(self, full: str) -> AtomicWriter:
        raise NotImplementedError

    def open(self, path: str | os.PathLike[str], mode: str = "rb") -> IO[Any]:
        """Open a file as a stream. Write modes (``wb``, ``w``) are atomic."""
        if mode not in ("rb", "r", "wb", "w"):
            raise ValueError(f"mode must be one of 'rb', 'r', 'wb', 'w', got {mode!r}")
        full = self.full_path(path)
        if "w" in mode:
            if not self.relative(path):
                raise IsADirectoryError(errno.EISDIR, f"{self.label}: cannot write to the root", full)
            writer = self._open_atomic(full)
            return writer if mode == "wb" else _AtomicTextWriter(writer, encoding="utf-8", write_through=True)
        try:
            raw = self.fs.open(full, "rb")
        except FileNotFoundError:
            raise self._not_found(full) from None
        except IsADirectoryError:
            raise IsADirectoryError(errno.EISDIR, f"{self.label}: {full} is a directory", full) from None
        return raw if mode == "rb" else io.TextIOWrapper(raw, encoding="utf-8")

    # ---- objects -----------------------------------------------------------

    def write(self, path: str | os.PathLike[str], obj: Any, serializer: str | None = None) -> FileRef:
        """Serialize ``obj`` to ``path`` atomically and return its FileRef."""
        rel = self.relative(path)
        chosen = serializer_for(obj, serializer, rel)
        try:
            with self.open(rel, "wb") as writer:
                if chosen.needs_seekable:
                    with tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY) as spool:
                        self._dump(chosen, obj, spool, rel)
                        spool.seek(0)
                        shutil.copyfileobj(spool, writer, CHUNK_SIZE)
                else:
                    self._dump(chosen, obj, writer, rel)
        except OSError as exc:
            raise self._disk_error(exc, rel) from None
        return self._ref(rel, chosen.name, writer)

    def _dump(self, chosen: Any, obj: Any, stream: IO[bytes], rel: str) -> None:
        """``chosen.dump``, an object it cannot write reported naming the block, path and serializer."""
        try:
            chosen.dump(obj, stream)
        except (OSError, MemoryError):
            raise
        except Exception as exc:  # noqa: BLE001 - each format raises its own types (yaml's RepresenterError ...)
            reason = str(exc) or type(exc).__name__
            raise CannotSerialize(self.label, self.url(rel), chosen.name, reason) from exc

    def _disk_error(self, exc: OSError, rel: str) -> OSError:
        """A full disk or a read-only filesystem under a write, naming the block and the path."""
        if exc.errno not in _DISK_ERRORS or self.label in str(exc):
            return exc
        full = self.full_path(rel)
        return type(exc)(exc.errno, f"{self.label}: cannot write {full}: {exc.strerror or os.strerror(exc.errno)}", full)

    def read(self, path: str | os.PathLike[str], serializer: str | None = None) -> Any:
        """Load the object at ``path`` with the named serializer, else by extension (and content:
        an HDF5 file of openPMD particles is read as a ParticleGroup)."""
        rel = self.relative(path)
        chosen = get_serializer(serializer, rel)
        with self.open(rel, "rb") as f:
            try:
                if serializer is None and type(chosen).sniff is not Serializer.sniff:
                    specific = chosen.sniff(f)
                    f.seek(0)
                    if specific is not None:
                        chosen = get_serializer(specific)
                return chosen.load(f)
            except Exception as exc:  # noqa: BLE001 - any failure to decode: the file is not what it claims
                raise CorruptFile(self.label, self.url(rel), chosen.name, f"{type(exc).__name__}: {exc}") from exc

    def upload(self, local_path: str | os.PathLike[str], path: str | os.PathLike[str], serializer: str | None = None) -> FileRef:
        """Copy a local file to ``path`` atomically, in bounded memory, and return its FileRef.

        The SHA-256 is computed in a second thread while the copy runs (both release
        the GIL), so checksumming costs little wall time. The local file must not change
        during the upload. Without ``serializer``, the FileRef names the one ``read`` picks: by
        the extension, then the content (an openPMD particles ``.h5``: ``openpmd``, not ``hdf5``).
        """
        rel = self.relative(path)
        name = self._serializer_name_for(rel, serializer)
        full = self.full_path(rel)
        source = os.fspath(local_path)
        if not os.path.isfile(source):  # checked before anything is created under the root
            if os.path.isdir(source):
                raise IsADirectoryError(errno.EISDIR, f"{self.label}: cannot upload {source}: a directory, not a file", source)
            if os.path.exists(source):
                raise OSError(errno.EINVAL, f"{self.label}: cannot upload {source}: not a regular file", source)
            raise FileNotFoundError(errno.ENOENT, f"{self.label}: cannot upload {source}: no such local file", source)
        if serializer is None:  # the FileRef names what read() would pick: an openPMD .h5 is openpmd, not hdf5
            name = self._sniffed(source, name)
        try:
            with ThreadPoolExecutor(max_workers=1) as pool:
                digest = pool.submit(file_sha256, source)
                self._put_local_file(source, full, digest)
                sha256, size = digest.result()
        except OSError as exc:
            raise self._disk_error(exc, rel) from None
        return FileRef(path=rel, serializer=name, sha256=sha256, size=size, url=self.url(rel))

    def download(self, path: str | os.PathLike[str], local_path: str | os.PathLike[str]) -> str:
        """Copy ``path`` to a local file in bounded memory; the local file appears atomically."""
        full = self.full_path(path)
        target = os.path.abspath(local_path)
        directory = os.path.dirname(target)
        if not os.path.isdir(directory):  # a mistyped destination is not created: say so
            raise FileNotFoundError(
                errno.ENOENT, f"{self.label}: cannot download {full} to {target}: the local directory {directory} does not exist", directory
            )
        fd, temp = tempfile.mkstemp(prefix=TEMP_MARKER, dir=directory)
        os.close(fd)
        try:
            self._get_local_file(full, temp)
            os.replace(temp, target)
        except FileNotFoundError:
            _remove_quietly(temp)
            raise self._not_found(full) from None
        except BaseException:
            _remove_quietly(temp)
            raise
        return target

    def _put_local_file(self, source: str, full: str, digest: Future[tuple[str, int]]) -> None:
        with open(source, "rb") as f, self._open_atomic(full) as writer:
            shutil.copyfileobj(f, writer, CHUNK_SIZE)

    def _get_local_file(self, full: str, temp: str) -> None:
        with self.open(full, "rb") as source, open(temp, "wb") as sink:
            shutil.copyfileobj(source, sink, CHUNK_SIZE)

    def sha256(self, path: str | os.PathLike[str]) -> str:
        """SHA-256 of the file's bytes, read in chunks."""
        digest = hashlib.sha256()
        with self.open(path, "rb") as f:
            while chunk := f.read(CHUNK_SIZE):
                digest.update(chunk)
        return digest.hexdigest()

    def _serializer_name_for(self, rel: str, serializer: str | None) -> str:
        if serializer is not None:
            return get_serializer(serializer).name
        try:
            return get_serializer(None, rel).name
        except ValueError:
            return "bytes"

    @staticmethod
    def _sniffed(source: str, name: str) -> str:
        """The serializer that reading the local file ``source`` by its extension (``name``) picks
        after a look at its content; ``name`` itself if the look fails (the upload does not)."""
        chosen = get_serializer(name)
        if type(chosen).sniff is Serializer.sniff:
            return name
        try:
            with open(source, "rb") as f:
                return chosen.sniff(f) or name
        except Exception:  # noqa: BLE001 - not what its extension says: read() would fail the same, later
            return name

    def _ref(self, rel: str, serializer: str, writer: AtomicWriter) -> FileRef:
        return FileRef(path=rel, serializer=serializer, sha256=writer.sha256, size=writer.size, url=self.url(rel))

    # ---- listing -----------------------------------------------------------

    def exists(self, path: str | os.PathLike[str] = "") -> bool:
        return bool(self.fs.exists(self.full_path(path)))

    def isdir(self, path: str | os.PathLike[str] = "") -> bool:
        return bool(self.fs.isdir(self.full_path(path)))

    def ls(self, path: str | os.PathLike[str] = "", recursive: bool = False) -> list[str]:
        """Paths (relative to the root) in a directory; ``recursive`` lists every file below it."""
        full = self.full_path(path)
        try:
            if recursive:
                entries = self.fs.find(full)
            else:
                entries = self.fs.ls(full, detail=False)
        except FileNotFoundError:
            if not self.relative(path):
                return []  # an empty root is not an error
            raise self._not_found(full) from None
        if not entries and self.relative(path) and not self.fs.exists(full):
            raise self._not_found(full)
        names = []
        for entry in entries:
            rel = self._under(posixpath.normpath("/" + entry.lstrip("/")), posixpath.normpath("/" + self.root.lstrip("/")))
            if rel and TEMP_MARKER not in posixpath.basename(rel):
                names.append(rel)
        return sorted(names)

    def modified_times(self, path: str | os.PathLike[str] = "") -> dict[str, float]:
        """The files below directory ``path`` (relative to the root), each with the time it was
        last written (POSIX seconds): one listing, local or S3 (its LastModified). A missing
        directory has none."""
        full = self.full_path(path)
        self.fs.invalidate_cache()  # S3: a listing cached before another process wrote
        try:
            entries = self.fs.find(full, detail=True)
        except FileNotFoundError:
            return {}
        root = posixpath.normpath("/" + self.root.lstrip("/"))
        times = {}
        for entry, info in entries.items():
            rel = self._under(posixpath.normpath("/" + entry.lstrip("/")), root)
            if rel and TEMP_MARKER not in posixpath.basename(rel):
                times[rel] = _modified(info)
        return times

    def modified(self, path: str | os.PathLike[str]) -> float:
        """When the file ``path`` was last written (POSIX seconds); FileNotFoundError naming it."""
        full = self.full_path(path)
        try:
            self.fs.invalidate_cache(full)
            return _modified(self.fs.info(full))
        except FileNotFoundError:
            raise self._not_found(full) from None

    def collect_garbage(self, older_than: float = 3600.0) -> list[str]:
        """Remove what killed writers left behind; the paths removed (see the subclasses)."""
        return []

    def delete(self, path: str | os.PathLike[str], recursive: bool = False) -> None:
        """Delete a file (or, with ``recursive=True``, a directory and everything in it)."""
        full = self.full_path(path)
        if not self.relative(path):
            raise PermissionError(errno.EPERM, f"{self.label}: refusing to delete the root", full)
        if not self.fs.exists(full):
            raise self._not_found(full)
        if self.fs.isdir(full) and not recursive:
            raise IsADirectoryError(errno.EISDIR, f"{self.label}: {full} is a directory; pass recursive=True", full)
        self.fs.rm(full, recursive=recursive)


class LocalRootedFiles(RootedFiles):
    """A local directory: symlinks may not lead out of it; writes are temp-file + rename."""

    local = True

    def __init__(self, root: str, *, label: str, aliases: Iterable[str] = (), create_root: bool = True, share_like_root: bool = False):
        from fsspec.implementations.local import LocalFileSystem

        super().__init__(
            LocalFileSystem(),
            os.path.abspath(os.path.expanduser(root)),
            label=label,
            aliases=[os.path.abspath(os.path.expanduser(a)) for a in aliases],
        )
        self._real_root = os.path.realpath(self.root)
        self.create_root = create_root
        # A directory shared with containers or jobs of other users (MountedFiles): the
        # directories created under it get its owner (when running as root) and its mode,
        # so whoever may write the root may write them too.
        self.share_like_root = share_like_root

    def _check(self, original: str, rel: str) -> str:
        too_long = [part for part in rel.split("/") if len(part.encode("utf-8", "surrogateescape")) > NAME_MAX]
        if too_long or len(posixpath.join(self.root, rel).encode("utf-8", "surrogateescape")) > PATH_MAX:
            what = f"file name {too_long[0][:40]!r}... is longer than {NAME_MAX} bytes" if too_long else f"path is longer than {PATH_MAX} bytes"
            raise OSError(errno.ENAMETOOLONG, f"{self.label}: {what}", original)
        real = os.path.realpath(posixpath.join(self.root, rel))
        if self._under(real, self._real_root) is None:
            raise PathOutsideRoot(original, self.root)
        return rel

    def _open_atomic(self, full: str) -> AtomicWriter:
        if os.path.isdir(full):
            raise IsADirectoryError(errno.EISDIR, f"{self.label}: {full} is a directory", full)
        temp, fd, created = self._temp_beside(full)
        raw = os.fdopen(fd, "wb")

        def commit() -> None:
            raw.flush()
            os.replace(temp, full)  # while still locked: a stale-temp sweep never sees it unlocked
            raw.close()

        def discard() -> None:
            _remove_quietly(temp)
            _close_quietly(raw)
            for made in reversed(created):  # a write that failed (a full disk) leaves no empty directories
                _rmdir_quietly(made)

        return AtomicWriter(raw, commit, discard)

    def _temp_beside(self, full: str) -> tuple[str, int, list[str]]:
        """A new temporary file beside ``full``, created and locked: (its path, its descriptor,
        the directories made for it, outermost first).

        Temporary files of a path are numbered; a writer holds an exclusive ``flock`` on its
        own until it is renamed or removed, and the kernel drops the lock when the writer
        dies (even by SIGKILL). A numbered file that can be locked is therefore stale: it is
        removed and its number reused, so the next write of a path cleans up after a killed
        writer without listing the directory.
        """
        directory, name = posixpath.split(full)
        if not self.create_root and not os.path.isdir(self.root):
            raise FileNotFoundError(
                errno.ENOENT, f"{self.label}: the root directory does not exist (create it, or set create=True)", self.root
            )
        created: list[str] = []
        stem = temp_stem(name)
        try:
            created = _make_directories(directory)
            if created and self.share_like_root:
                _share_like(self.root, created)
            for number in range(10_000):
                temp = posixpath.join(directory, f"{stem}{number}")
                try:
                    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
                except FileExistsError:
                    if remove_if_stale(temp):
                        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
                    else:
                        continue
                fcntl.flock(fd, fcntl.LOCK_EX)
                return temp, fd, created
            raise FileExistsError(errno.EEXIST, f"{self.label}: too many writers of {full} at once", full)
        except OSError as exc:
            for made in reversed(created):  # leave no empty directories behind
                _rmdir_quietly(made)
            if isinstance(exc, FileExistsError) and exc.filename == full:
                raise
            raise type(exc)(exc.errno, f"{self.label}: cannot write {full}: {exc.strerror}", full) from None

    def _put_local_file(self, source: str, full: str, digest: Future[tuple[str, int]]) -> None:
        if os.path.isdir(full):
            raise IsADirectoryError(errno.EISDIR, f"{self.label}: {full} is a directory", full)
        temp, fd, created = self._temp_beside(full)
        try:
            shutil.copyfile(source, temp)  # sendfile: no copy through Python; fd keeps the lock
            os.replace(temp, full)
        except BaseException:
            _remove_quietly(temp)
            for made in reversed(created):
                _rmdir_quietly(made)
            raise
        finally:
            os.close(fd)

    def collect_garbage(self, older_than: float = 0.0) -> list[str]:
        """Remove the temporary files that killed writers left under the root; their paths.

        A temporary file still locked by its (live) writer is kept, whatever its age;
        ``older_than`` keeps files modified in the last that-many seconds as well.
        """
        removed = []
        if not os.path.isdir(self.root):
            return removed
        now = time.time()
        for directory, _dirs, names in os.walk(self.root):
            for name in names:
                if TEMP_MARKER not in name:
                    continue
                path = os.path.join(directory, name)
                try:
                    if now - os.stat(path).st_mtime < older_than:
                        continue
                except FileNotFoundError:
                    continue
                if remove_if_stale(path):
                    removed.append(posixpath.relpath(path, self.root))
        return sorted(removed)

    def _get_local_file(self, full: str, temp: str) -> None:
        if os.path.isdir(full):
            raise IsADirectoryError(errno.EISDIR, f"{self.label}: {full} is a directory", full)
        shutil.copyfile(full, temp)


class S3RootedFiles(RootedFiles):
    """A bucket and key prefix through s3fs; objects appear only when their upload completes.

    ``endpoint`` and ``patience`` (the timeouts and attempts in words) name the server in
    the error raised when it does not answer.
    """

    def __init__(self, fs: Any, bucket: str, prefix: str, *, label: str, endpoint: str = "AWS S3", patience: str = ""):
        super().__init__(fs, posixpath.join(bucket, prefix.strip("/")) if prefix.strip("/") else bucket, label=label, protocol="s3")
        self.bucket, self.endpoint, self.patience = bucket, endpoint, patience
        self._bucket_seen = False

    def _absolute_form(self, root: str) -> str:
        return "/" + root

    def _open_atomic(self, full: str) -> AtomicWriter:
        self._abort_uploads(full)
        content_type = object_content_type(full)
        raw = self.fs.open(full, "wb", ContentType=content_type)

        def commit() -> None:
            metadata = {SHA256_METADATA: writer.sha256}
            if raw.mpu is None:  # one PUT when closed: it carries the checksum
                raw.s3_additional_kwargs["Metadata"] = metadata
                raw.close()
                return
            try:
                raw.close()  # a multipart upload, begun before the checksum was known: add it now
            except Exception as exc:
                # a slow complete, resent by s3fs, races the first: the object may have landed
                etag = _multipart_etag(raw.parts)
                if not _is_transient(exc) or not self._landed(full, lambda head: head.get("ETag", "").strip('"') == etag
                                    and head.get("ContentLength") == writer.size):
                    raise
                raw.mpu = None  # completed: nothing to abort
            if writer.size <= MAX_COPY_SIZE:
                bucket, key = full.split("/", 1)
                self.fs.call_s3("copy_object", Bucket=bucket, Key=key, CopySource={"Bucket": bucket, "Key": key},
                                ContentType=content_type, Metadata=metadata, MetadataDirective="REPLACE")

        def discard() -> None:
            try:
                raw.discard()  # aborts a multipart upload, if one was started
            except FileNotFoundError:
                pass  # completed or aborted meanwhile: its error would hide the one that discards
            raw.closed = True  # so that close() does not upload what was buffered

        writer = AtomicWriter(raw, commit, discard)
        return writer

    def _put_local_file(self, source: str, full: str, digest: Future[tuple[str, int]]) -> None:
        # s3fs uploads parts concurrently and aborts the multipart upload on failure;
        # chunk size x concurrency bounds the memory. The checksum goes with the upload.
        # A server slow to complete a large upload (it assembles the parts) times the
        # request out; s3fs then resends the complete, which races the first one, and its
        # abort fails with "no such upload", hiding the cause. So: the real error is kept,
        # an object that landed anyway is accepted, and a transient failure is retried once.
        from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_fixed

        sha256, size = digest.result()
        answered = False  # a server that never answers fails as fast as without the retry

        def retryable(exc: BaseException) -> bool:
            return answered and _is_transient(exc)

        for attempt in Retrying(retry=retry_if_exception(retryable), stop=stop_after_attempt(UPLOAD_ATTEMPTS),
                                wait=wait_fixed(1.0), reraise=True):
            with attempt:
                self._abort_uploads(full)
                answered = True
                try:
                    self.fs.put_file(source, full, chunksize=TRANSFER_CHUNK, max_concurrency=TRANSFER_CONCURRENCY,
                                     ContentType=object_content_type(full), Metadata={SHA256_METADATA: sha256})
                except Exception as exc:
                    error, abort_failed = _unmasked(exc)
                    # an abort that failed ("no such upload", or the server busy): an earlier
                    # complete may have finished the upload, or be finishing it
                    if abort_failed and self._landed(full, lambda head: head.get("Metadata", {}).get(SHA256_METADATA) == sha256
                                                     and head.get("ContentLength") == size):
                        return
                    raise error from error.__cause__

    def _landed(self, full: str, matches: Callable[[dict[str, Any]], bool]) -> bool:
        """Whether ``full`` holds (or comes to hold, while the server may still be completing
        the upload, up to one read timeout) an object whose HEAD answer ``matches``."""
        bucket, key = full.split("/", 1)
        deadline = time.monotonic() + float(self.fs.config_kwargs.get("read_timeout", 60))
        while True:
            try:
                head = self.fs.call_s3("head_object", Bucket=bucket, Key=key)
                if matches(head):
                    return True
            except FileNotFoundError:
                pass
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.5)

    def _get_local_file(self, full: str, temp: str) -> None:
        self.fs.get_file(full, temp, chunksize=TRANSFER_CHUNK, max_concurrency=TRANSFER_CONCURRENCY)

    def _uploads(self, key_prefix: str) -> list[dict[str, Any]]:
        """Unfinished multipart uploads of the bucket whose key starts with ``key_prefix``."""
        uploads: list[dict[str, Any]] = []
        marker: dict[str, str] = {}
        while True:
            page = self.fs.call_s3("list_multipart_uploads", Bucket=self.bucket, Prefix=key_prefix, **marker)
            uploads.extend(page.get("Uploads", []))
            if not page.get("IsTruncated"):
                return uploads
            marker = {"KeyMarker": page["NextKeyMarker"], "UploadIdMarker": page["NextUploadIdMarker"]}

    def _abort(self, upload: dict[str, Any]) -> None:
        try:
            self.fs.call_s3("abort_multipart_upload", Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"])
        except FileNotFoundError:
            pass  # finished or aborted meanwhile

    def _abort_uploads(self, full: str) -> None:
        # A writer killed mid-upload leaves its multipart upload open (and billed) forever;
        # a new write of the same key supersedes it, so it is aborted here.
        key = full.split("/", 1)[1]
        for upload in self._uploads(key):
            if upload["Key"] == key:
                self._abort(upload)

    def collect_garbage(self, older_than: float = 3600.0) -> list[str]:
        """Abort the unfinished multipart uploads under the prefix started more than
        ``older_than`` seconds ago (younger ones may still be running); their paths."""
        from datetime import datetime, timezone

        prefix = self.root.split("/", 1)[1] + "/" if "/" in self.root else ""
        now = datetime.now(timezone.utc)
        aborted = []
        for upload in self._uploads(prefix):
            if (now - upload["Initiated"]).total_seconds() >= older_than:
                self._abort(upload)
                aborted.append(upload["Key"][len(prefix):])
        return sorted(aborted)

    def exists(self, path: str | os.PathLike[str] = "") -> bool:
        self.fs.invalidate_cache()
        found = super().exists(path)
        if not found:
            self._require_bucket()
        return found

    def ls(self, path: str | os.PathLike[str] = "", recursive: bool = False) -> list[str]:
        self.fs.invalidate_cache()
        names = super().ls(path, recursive)
        if not names:
            self._require_bucket()
        return names

    def _require_bucket(self) -> None:
        # S3 lists a missing bucket as empty: "no such file" must not hide "no such bucket"
        if self._bucket_seen:
            return
        try:
            self.fs.call_s3("head_bucket", Bucket=self.bucket)
        except (FileNotFoundError, PermissionError) as exc:
            if isinstance(exc, PermissionError):
                return  # may list keys but not see the bucket itself: not our question
            raise FileNotFoundError(
                errno.ENOENT, f"{self.label}: bucket {self.bucket!r} does not exist at {self.endpoint}", self.bucket
            ) from None
        self._bucket_seen = True


def _naming_the_endpoint(method: Callable[..., Any]) -> Callable[..., Any]:
    """``method`` with a server that does not answer reported as S3Unreachable, naming it."""
    import functools

    @functools.wraps(method)
    def wrapper(self: S3RootedFiles, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except Exception as exc:
            cause = exc.__cause__ if isinstance(exc, CorruptFile) else exc
            if cause is not None and _is_unreachable(cause):
                raise S3Unreachable(self.label, self.endpoint, self.patience, f"{type(cause).__name__}: {cause}") from exc
            raise

    return wrapper


def _multipart_etag(parts: list[dict[str, Any]]) -> str:
    """The ETag S3 gives the object a multipart upload of these parts completes into."""
    digests = b"".join(bytes.fromhex(part["ETag"].strip('"')) for part in parts)
    return f"{hashlib.md5(digests, usedforsecurity=False).hexdigest()}-{len(parts)}"


def _unmasked(exc: BaseException) -> tuple[BaseException, bool]:
    """The error that failed an s3fs multipart upload, and whether s3fs's abort failed.

    s3fs aborts the upload on any error; when the abort itself fails (the upload no longer
    exists, or no answer), its error replaces the real one, which stays as its context."""
    import traceback

    if exc.__context__ is not None and any(frame.f_code.co_name == "_abort_mpu" for frame, _ in traceback.walk_tb(exc.__traceback__)):
        return exc.__context__, True
    return exc, False


def _is_transient(exc: BaseException) -> bool:
    """Whether an upload failed for a reason that may pass: no answer, a server error, or
    the upload gone while being completed (a resent complete racing the first)."""
    from botocore.exceptions import ClientError

    if _is_unreachable(exc):
        return True
    cause = exc.__cause__ if isinstance(exc.__cause__, ClientError) else exc
    if isinstance(cause, ClientError):
        status = cause.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        code = cause.response.get("Error", {}).get("Code", "")
        return status >= 500 or code in ("SlowDown", "RequestTimeout") or (
            code == "NoSuchUpload" and cause.operation_name == "CompleteMultipartUpload")
    return False


def _is_unreachable(exc: BaseException) -> bool:
    from botocore.exceptions import ConnectionError as BotoConnectionError
    from botocore.exceptions import HTTPClientError
    from fsspec.exceptions import FSTimeoutError

    return isinstance(exc, (HTTPClientError, BotoConnectionError, FSTimeoutError, TimeoutError, ConnectionError))


for _name in ("exists", "isdir", "ls", "read", "write", "upload", "download", "delete", "sha256", "collect_garbage"):
    setattr(S3RootedFiles, _name, _naming_the_endpoint(getattr(S3RootedFiles, _name)))


# S3 objects carry their SHA-256 (hex, as FileRef.sha256) as user metadata x-amz-meta-sha256,
# and a content type from their name. A streamed write larger than S3's single copy (5 GiB)
# gets no checksum metadata: adding it after a multipart upload is a copy of the object.
SHA256_METADATA = "sha256"
MAX_COPY_SIZE = 5 * 2**30


def _modified(info: dict[str, Any]) -> float:
    """The time of an fsspec listing entry: ``mtime`` (local), ``LastModified`` (S3)."""
    if "mtime" in info:
        return float(info["mtime"])
    return float(info["LastModified"].timestamp())


def object_content_type(path: str) -> str:
    return mimetypes.guess_type(path)[0] or "application/octet-stream"


def file_sha256(path: str) -> tuple[str, int]:
    """SHA-256 and size of a local file, read in chunks."""
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK_SIZE):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def temp_stem(name: str) -> str:
    """The hidden name prefix of the temporary files of file ``name`` (numbered after it)."""
    stem = f".{name}{TEMP_MARKER}"
    if len(stem.encode("utf-8", "surrogateescape")) + 5 > NAME_MAX:  # a long name: a digest keeps it unique
        stem = f".{hashlib.sha256(name.encode('utf-8', 'surrogateescape')).hexdigest()[:32]}{TEMP_MARKER}"
    return stem


def remove_if_stale(temp: str) -> bool:
    """Remove the temporary file ``temp`` if no live writer holds its lock; whether it did."""
    try:
        fd = os.open(temp, os.O_RDONLY)
    except FileNotFoundError:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return False
    try:
        info = os.fstat(fd)
        if info.st_size == 0 and time.time() - info.st_mtime < FRESH_TEMP_S:
            return False  # just created: its writer may not have locked it yet
        _remove_quietly(temp)
        return True
    finally:
        os.close(fd)


def _make_directories(directory: str) -> list[str]:
    """Create ``directory`` and missing parents; the ones created, outermost first."""
    missing = []
    current = directory
    while current and not os.path.isdir(current):
        missing.append(current)
        parent = posixpath.dirname(current)
        if parent == current:
            break
        current = parent
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError:
        for made in missing:  # innermost first
            _rmdir_quietly(made)
        raise
    return list(reversed(missing))


def _share_like(root: str, directories: list[str]) -> None:
    """Give ``directories`` the permission bits (setgid included) of ``root``, and its owner
    and group when this process may (root); a setgid root already gives them its group."""
    info = os.stat(root)
    for directory in directories:
        if os.geteuid() == 0:
            os.chown(directory, info.st_uid, info.st_gid)
        os.chmod(directory, stat.S_IMODE(info.st_mode))


def _rmdir_quietly(path: str) -> None:
    try:
        os.rmdir(path)
    except OSError:
        pass


def _close_quietly(raw: Any) -> None:
    try:
        raw.close()  # flushing what is buffered may fail again on a full disk: the file is gone anyway
    except OSError:
        pass


def _remove_quietly(path: str) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass
