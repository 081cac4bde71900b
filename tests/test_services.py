"""The ``local`` services follow LUME_PREFECT_HOME (issue 12.7), on the session's Prefect API."""

from __future__ import annotations

import logging

import prefect.main  # noqa: F401 - Prefect configures logging when this loads; inside a test it would drop caplog's handler
import pytest

from lume_prefect.services import DEFAULT_SERVICES, LumeServices, load_services

pytestmark = pytest.mark.prefect


@pytest.fixture
def no_local_block():
    """The `local` document is shared by the session: remove it before and after."""
    from prefect.client.orchestration import get_client

    def delete():
        with get_client(sync_client=True) as client:
            try:
                client.delete_block_document(client.read_block_document_by_name(DEFAULT_SERVICES, "lume-services").id)
            except Exception:  # noqa: BLE001 - not saved: nothing to delete
                pass

    delete()
    yield
    delete()


def test_local_services_follow_lume_prefect_home_and_say_where(no_local_block, tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("LUME_PREFECT_HOME", str(tmp_path / "first"))
    assert load_services().files.basepath == str(tmp_path / "first" / "files")  # created on first use

    monkeypatch.setenv("LUME_PREFECT_HOME", str(tmp_path / "second"))
    with caplog.at_level(logging.WARNING, logger="lume_prefect.services"):
        moved = load_services()
    assert moved.files.basepath == str(tmp_path / "second" / "files")
    assert LumeServices.load(DEFAULT_SERVICES, _sync=True).files.basepath == str(tmp_path / "second" / "files")  # saved
    assert f"pointed at {tmp_path / 'first'}" in caplog.text and f"says {tmp_path / 'second'}: re-pointed" in caplog.text

    monkeypatch.delenv("LUME_PREFECT_HOME")  # back to the platform default: the saved block is kept, and named
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="lume_prefect.services"):
        kept = load_services()
    assert kept.files.basepath == str(tmp_path / "second" / "files")
    assert f"data under {tmp_path / 'second'}" in caplog.text and "prefect block delete lume-services/local" in caplog.text
