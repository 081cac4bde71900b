"""Fixtures of the file-service tests: the same API tests run on every file block."""

from __future__ import annotations

import pytest

from lume_prefect.files import LocalFiles, MountedFiles, S3Files


def make_s3_files(endpoint_url: str, bucket: str, prefix: str = "root") -> S3Files:
    return S3Files(
        bucket=bucket,
        prefix=prefix,
        endpoint_url=endpoint_url,
        aws_access_key_id="testing-key-id",
        aws_secret_access_key="testing-secret-key",
    )


@pytest.fixture(
    params=[
        pytest.param("local", marks=pytest.mark.unit),
        pytest.param("mounted", marks=pytest.mark.unit),
        pytest.param("s3", marks=pytest.mark.s3),
    ]
)
def files(request, tmp_path):
    """A LocalFiles, MountedFiles or S3Files block on an empty root."""
    if request.param == "local":
        return LocalFiles(basepath=str(tmp_path / "root"))
    if request.param == "mounted":
        return MountedFiles(host_path=str(tmp_path / "host"), mount_path="/lume-test-mount", create=True)
    server = request.getfixturevalue("s3_server")
    bucket = request.getfixturevalue("s3_bucket")
    return make_s3_files(server.endpoint_url, bucket)
