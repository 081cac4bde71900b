"""The blocks in the real Prefect UI, driven by a real headless Chromium (Debian's, via Playwright)."""

from __future__ import annotations

import re
import uuid

import pytest

from tests.components import chromium_path

pytestmark = [pytest.mark.ui, pytest.mark.slow]
SECRET = "ui-secret-never-shown-123"


def field(page, label: str):
    """The input of the form field whose label reads exactly ``label`` (Prefect's labels have no for=)."""
    title = page.locator(".p-label__label").filter(has_text=re.compile(f"^\\s*{re.escape(label)}(\\s*\\(Optional\\))?\\s*$"))
    return page.locator(".p-label").filter(has=title).locator("input, textarea").first


@pytest.fixture(scope="module")
def browser():
    executable = chromium_path()
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install -e '.[test]' (playwright)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    yield page
    page.close()


@pytest.fixture
def server_api(prefect_server):
    """Make Prefect client calls in this test go to the real server the browser sees."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: prefect_server.api_url}):
        yield prefect_server


def test_catalog_lists_every_lume_block_type(page, server_api):
    page.goto(f"{server_api.url}/blocks/catalog")
    for name in ("LUME Local Files", "LUME Mounted Files", "LUME S3 Files"):
        page.get_by_text(name, exact=True).first.wait_for(timeout=60_000)


def test_a_block_created_in_the_ui_works_in_python(page, server_api, tmp_path):
    from lume_prefect.files import LocalFiles

    name = f"ui-{uuid.uuid4().hex[:8]}"
    page.goto(f"{server_api.url}/blocks/catalog/lume-local-files/create")
    page.get_by_text("Root directory of the files.").wait_for(timeout=60_000)
    field(page, "Block Name").fill(name)
    field(page, "Basepath").fill(str(tmp_path))
    page.get_by_role("button", name="Create").click()
    page.wait_for_url(f"**/blocks/block/**", timeout=30_000)
    files = LocalFiles.load(name, _sync=True)  # Playwright runs an event loop in this thread
    assert files.basepath == str(tmp_path)
    ref = files.write("from-ui.json", {"ok": True}, _sync=True)
    assert ref.block == f"lume-local-files/{name}" and (tmp_path / "from-ui.json").exists()


def test_secrets_entered_in_the_ui_are_stored_but_never_shown(page, server_api):
    from lume_prefect.files import S3Files

    name = f"ui-s3-{uuid.uuid4().hex[:8]}"
    page.goto(f"{server_api.url}/blocks/catalog/lume-s3-files/create")
    page.get_by_text("Bucket name.").wait_for(timeout=60_000)
    field(page, "Block Name").fill(name)
    field(page, "Bucket").fill("facility-data")
    field(page, "Aws Secret Access Key").fill(SECRET)
    page.get_by_role("button", name="Create").click()
    page.wait_for_url(f"**/blocks/block/**", timeout=30_000)
    page.get_by_text("facility-data").first.wait_for(timeout=30_000)
    assert SECRET not in page.content()
    block = S3Files.load(name, _sync=True)
    assert block.aws_secret_access_key.get_secret_value() == SECRET
