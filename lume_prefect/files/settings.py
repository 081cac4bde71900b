"""What the file blocks are configured with, without Prefect: their fields (names, types,
defaults, descriptions, checks) and the ``RootedFiles`` they build.

``LocalFiles``, ``MountedFiles`` and ``S3Files`` (``blocks.py``) take their fields from these
classes; a command that only reads or writes files builds the same ``RootedFiles`` from a
saved block's data without importing Prefect (``lume_prefect.stores``).
"""

from __future__ import annotations

import os
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from lume_prefect.core.urls import hide_passwords
from lume_prefect.files.rooted import LocalRootedFiles, RootedFiles, S3RootedFiles

# Upload part size: bounds the memory of a streamed upload (one part is buffered at a time).
S3_PART_SIZE = 8 * 1024 * 1024


class LocalFilesSettings(BaseModel):
    """A directory on this machine (``LocalFiles``)."""

    type_slug: ClassVar[str] = "lume-local-files"

    basepath: str = Field(
        description="Root directory of the files. Relative paths given to the block are resolved under it; nothing outside it can be reached.",
        examples=["/data/model-runs"],
    )

    @field_validator("basepath", mode="before")
    @classmethod
    def _stringify_basepath(cls, value: Any) -> Any:
        value = os.fspath(value) if isinstance(value, os.PathLike) else value
        if isinstance(value, str) and not value.strip():
            raise ValueError("basepath must name a directory, got an empty string (it would be the current directory)")
        if isinstance(value, str) and not value.startswith(("/", "~")):
            # resolved once, here: a saved block then means one directory in every process
            value = os.path.abspath(value)
        return value

    def rooted(self, label: str) -> RootedFiles:
        """The files under ``basepath``; ``label`` (the block's class and name) starts their messages."""
        return LocalRootedFiles(self.basepath, label=f"{label} ({self.basepath})")


class MountedFilesSettings(BaseModel):
    """A host directory also mounted elsewhere (``MountedFiles``)."""

    type_slug: ClassVar[str] = "lume-mounted-files"

    host_path: str = Field(description="Absolute path of the directory on the host.", examples=["/scratch/lume"])
    mount_path: str = Field(
        description="Absolute path at which the same directory is mounted inside containers or jobs.",
        examples=["/data"],
    )
    create: bool = Field(default=False, description="Create the host directory (and parents) if it does not exist.")

    @field_validator("host_path", "mount_path", mode="before")
    @classmethod
    def _must_be_absolute(cls, value: Any, info: Any) -> str:
        value = os.fspath(value) if isinstance(value, os.PathLike) else value
        if not isinstance(value, str) or not os.path.isabs(value):
            raise ValueError(f"{info.field_name} must be an absolute path, got {value!r}")
        if info.field_name == "mount_path" and not os.path.normpath(value).strip("/"):
            # every absolute path would then be an alias of the host directory
            raise ValueError("mount_path must be a directory below '/', got '/' (every absolute path would map into host_path)")
        return os.path.normpath(value)

    def model_post_init(self, context: Any, /) -> None:
        super().model_post_init(context)
        if self.create:
            self._active_root()  # the directory exists as soon as the block does

    def _active_root(self) -> str:
        if os.path.isdir(self.mount_path) and not os.path.isdir(self.host_path):
            return self.mount_path
        if self.create:
            os.makedirs(self.host_path, exist_ok=True)
        return self.host_path

    def rooted(self, label: str) -> RootedFiles:
        """The files under the path that exists here (``mount_path`` inside a container, else ``host_path``)."""
        root = self._active_root()
        other = self.mount_path if root == self.host_path else self.host_path
        return LocalRootedFiles(root, label=f"{label} ({root})", aliases=[other], create_root=self.create, share_like_root=True)


class S3FilesSettings(BaseModel):
    """Objects in an S3 bucket (``S3Files``)."""

    type_slug: ClassVar[str] = "lume-s3-files"
    # a refused value is not echoed back: it may be a URL with a password
    model_config = ConfigDict(hide_input_in_errors=True)

    bucket: str = Field(description="Bucket name.", examples=["lume-data"])
    prefix: str = Field(default="", description="Key prefix under which all paths of this block live.", examples=["runs"])
    endpoint_url: str = Field(
        default="",
        description="URL of an S3-compatible server (MinIO, Ceph); empty for AWS.",
        examples=["http://127.0.0.1:9000"],
    )
    aws_access_key_id: SecretStr = Field(
        default=SecretStr(""), description="Access key ID; empty to use the environment or instance role."
    )
    aws_secret_access_key: SecretStr = Field(default=SecretStr(""), description="Secret access key; empty to use the environment.")
    region_name: str = Field(default="", description="Region, e.g. eu-west-1; empty for the default.")
    # appended last: Prefect's block schema checksum depends on the order of fields
    # defaults: a server that accepts and never answers fails an operation in under 90 s
    connect_timeout: float = Field(default=5.0, gt=0, description="Seconds to wait for the S3 server to accept a connection.")
    read_timeout: float = Field(default=15.0, gt=0, description="Seconds to wait for each answer of the S3 server.")
    max_attempts: int = Field(
        default=3, ge=1, le=20, description="Attempts of each request before giving up (timeouts and connection errors are retried)."
    )

    @field_validator("bucket")
    @classmethod
    def _bucket_name(cls, value: str) -> str:
        if not value or "/" in value or value != value.strip():
            raise ValueError(f"bucket must be a bucket name without '/', got {value!r}")
        return value

    @field_validator("endpoint_url")
    @classmethod
    def _no_credentials_in_the_url(cls, value: str) -> str:
        from urllib.parse import urlsplit

        netloc = urlsplit(value).netloc
        if "@" in netloc:  # s3fs could not use them anyway: its HTTP client refuses credentials in a URL
            shown = value.replace(netloc, "***@" + netloc.rsplit("@", 1)[1], 1)
            raise ValueError(f"endpoint_url must not carry credentials ({shown}): give them as aws_access_key_id and "
                             "aws_secret_access_key, which are kept secret")
        return value

    @field_validator("prefix")
    @classmethod
    def _prefix_stays_in_the_bucket(cls, value: str) -> str:
        if any(part in (".", "..") for part in value.strip("/").split("/") if value.strip("/")):
            raise ValueError(f"prefix must be a key prefix inside the bucket, without '.' or '..' parts, got {value!r}")
        return value

    def filesystem(self) -> Any:
        """The s3fs filesystem this block uses (credentials from the block, else the environment)."""
        import s3fs

        client_kwargs: dict[str, Any] = {}
        if self.endpoint_url:
            client_kwargs["endpoint_url"] = self.endpoint_url
        if self.region_name:
            client_kwargs["region_name"] = self.region_name
        fs = s3fs.S3FileSystem(
            key=self.aws_access_key_id.get_secret_value() or None,
            secret=self.aws_secret_access_key.get_secret_value() or None,
            client_kwargs=client_kwargs,
            # s3fs retries (with backoff) what botocore does not: one layer of retries, bounded
            config_kwargs={
                "connect_timeout": self.connect_timeout,
                "read_timeout": self.read_timeout,
                "retries": {"total_max_attempts": 1},
            },
            use_listings_cache=False,
            skip_instance_cache=True,
            default_block_size=S3_PART_SIZE,
        )
        fs.retries = self.max_attempts
        return fs

    def rooted(self, label: str) -> RootedFiles:
        """The objects under ``prefix`` of ``bucket``."""
        where = f"{label} (s3://{self.bucket}/{self.prefix})".replace("//)", "/)")
        patience = f"connect {self.connect_timeout:g} s, read {self.read_timeout:g} s, {self.max_attempts} attempts"
        endpoint = hide_passwords(self.endpoint_url) if self.endpoint_url else "AWS S3"
        return S3RootedFiles(self.filesystem(), self.bucket, self.prefix, label=where, endpoint=endpoint, patience=patience)
