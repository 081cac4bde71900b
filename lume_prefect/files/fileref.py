"""FileRef: a JSON-able pointer to a file written through a file block."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class FileRef(BaseModel):
    """Where a file lives, how to read it back, and what it contained when written.

    Plain data: a FileRef travels between flows and is stored with results. To read it,
    ``lume_prefect.files.read_ref(ref)`` (the saved block named in ``block``) or
    ``block.read_ref(ref)``; both check the SHA-256 before deserializing, so a file changed
    since it was written is never read silently.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    block: str | None = Field(
        default=None,
        description="The saved file block as 'block-type-slug/block-name'; None for an unsaved block.",
    )
    path: str = Field(description="Path relative to the block's root.")
    serializer: str = Field(description="Name of the serializer that reads the file back.")
    sha256: str = Field(description="SHA-256 of the file's bytes when written.", pattern="^[0-9a-f]{64}$")
    size: int = Field(description="Size in bytes when written.", ge=0)
    url: str | None = Field(default=None, description="Full location when written (file://... or s3://...).")
