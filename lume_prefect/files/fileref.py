"""FileRef: a JSON-able pointer to a file written through a file block."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class FileRef(BaseModel):
    """Where a file lives, how to read it back, and what it contained when written.

    A FileRef travels between flows and is stored with results. ``read()`` loads the
    saved block named in ``block`` (``type-slug/name``) and checks the SHA-256 before
    deserializing, so a file changed since it was written is never read silently.
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

    def load_block(self) -> Any:
        """The file block this FileRef was written through (loaded from the Prefect API)."""
        if self.block is None:
            raise ValueError(
                f"FileRef for {self.url or self.path!r} names no saved block; "
                "pass block=... or write through a saved block"
            )
        from prefect.blocks.core import Block

        return Block.load(self.block, _sync=True)

    def read(self, block: Any = None, *, verify: bool = True) -> Any:
        """Load the file's object; ``block`` overrides the saved block (e.g. an unsaved one).

        With ``verify`` (the default) a file whose SHA-256 differs from the recorded one
        raises ChecksumMismatch instead of being deserialized.
        """
        files = (block if block is not None else self._fallback_block())._rooted()
        if verify:
            from lume_prefect.files.errors import ChecksumMismatch

            actual = files.sha256(self.path)
            if actual != self.sha256:
                raise ChecksumMismatch(files.url(self.path), self.sha256, actual)
        return files.read(self.path, self.serializer)

    def _fallback_block(self) -> Any:
        # Only a block gives a root: a root guessed from ``url`` would let a crafted FileRef
        # (url="file:///etc/passwd") read anything on the machine.
        return self.load_block()
