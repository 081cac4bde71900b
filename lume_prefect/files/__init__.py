"""The file service: local, mounted and S3 files as Prefect blocks, with serializers."""

from lume_prefect.core.lazy import lazy_names
from lume_prefect.files.errors import ChecksumMismatch, PathOutsideRoot, UnknownSerializer
from lume_prefect.files.fileref import FileRef
from lume_prefect.files.serializers import Serializer, get_serializer, register_serializer

# the blocks and tasks load Prefect: imported on first use, so a model returning a FileRef
# (a scan's worker process) does not load it
_LAZY = {
    **dict.fromkeys(["FileBlock", "LocalFiles", "MountedFiles", "S3Files", "block_of", "read_ref"], "lume_prefect.files.blocks"),
    **dict.fromkeys(["load_file", "resolve_file_block", "save_file"], "lume_prefect.files.tasks"),
}
__getattr__, __dir__ = lazy_names(__name__, _LAZY, globals())

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
