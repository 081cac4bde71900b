"""The file service: local, mounted and S3 files as Prefect blocks, with serializers."""

from lume_prefect.files.blocks import FileBlock, LocalFiles, MountedFiles, S3Files, block_of, read_ref
from lume_prefect.files.errors import ChecksumMismatch, PathOutsideRoot, UnknownSerializer
from lume_prefect.files.fileref import FileRef
from lume_prefect.files.serializers import Serializer, get_serializer, register_serializer
from lume_prefect.files.tasks import load_file, resolve_file_block, save_file

__all__ = [
    "ChecksumMismatch",
    "FileBlock",
    "FileRef",
    "LocalFiles",
    "MountedFiles",
    "PathOutsideRoot",
    "S3Files",
    "Serializer",
    "UnknownSerializer",
    "block_of",
    "get_serializer",
    "load_file",
    "read_ref",
    "register_serializer",
    "resolve_file_block",
    "save_file",
]
