"""The blocks in the real Prefect UI, driven by a real headless Chromium (Debian's, via Playwright)."""

from __future__ import annotations

import re
import uuid

import pytest

from tests.components import chromium_path, prefect_api_at

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
    with prefect_api_at(prefect_server.api_url):
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
    page.wait_for_url("**/blocks/block/**", timeout=30_000)
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
    page.wait_for_url("**/blocks/block/**", timeout=30_000)
    page.get_by_text("facility-data").first.wait_for(timeout=30_000)
    assert SECRET not in page.content()
    block = S3Files.load(name, _sync=True)
    assert block.aws_secret_access_key.get_secret_value() == SECRET


def off_the_browser_thread(function):
    """Run Prefect code in a thread of its own: Playwright's sync API keeps an event loop here."""
    import contextvars
    from concurrent.futures import ThreadPoolExecutor

    context = contextvars.copy_context()  # keeps the test's Prefect settings (the real server)
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(context.run, function).result(timeout=300)


def test_the_run_form_shows_each_inputs_units_and_range_and_nothing_else(page, server_api):
    from pathlib import Path

    from prefect.flows import Flow

    source = Path(__file__).resolve().parents[1] / "flows" / "toy_beam"

    def deploy():
        model = Flow.from_source(source=str(source), entrypoint="model.py:toy_beam")
        return model.to_deployment(name=f"form-{uuid.uuid4().hex[:8]}").apply()

    deployment_id = off_the_browser_thread(deploy)
    page.goto(f"{server_api.url}/deployments/deployment/{deployment_id}/run")
    for text in (
        "Initial rms size. Units: m. Range: 1e-06 to 0.1 m.",
        "Initial rms divergence. Units: rad. Range: 0 to 0.01 rad.",
        "Macro-particles. Range: 10 to 10,000,000.",
    ):
        shown = page.get_by_text(text, exact=True).first
        shown.wait_for(timeout=60_000)
        assert shown.is_visible()
    labels = page.locator(".p-label__label").all_inner_texts()
    assert {"sigma_x", "save_particles"} <= {label.replace("(Optional)", "").strip() for label in labels}
    # the flow's lume_scan_batch parameter (run_scan's deployment executor) is not a field of the form
    assert not page.get_by_text(re.compile("scan.batch|run_scan", re.IGNORECASE)).count()


def test_a_plot_shows_on_the_flow_run_page_without_opening_an_artifact(page, server_api):
    from prefect import flow

    from lume_prefect.results import Result
    from lume_prefect.results.tasks import plot_results

    @flow(name="ui-plot")
    def scan_report():
        from prefect.runtime import flow_run

        data = [Result(model="quad", version="1", inputs={"k1": float(k)}, outputs={"sigma": 1.0 + k * k}) for k in range(-4, 5)]
        plot_results("sigma", x="k1", data=data, title="sigma vs k1")
        return flow_run.id

    run_id = off_the_browser_thread(scan_report)
    page.goto(f"{server_api.url}/runs/flow-run/{run_id}")
    page.get_by_text("Artifacts", exact=True).first.click()
    section = page.locator(".flow-run-artifacts")
    image = section.locator(".artifact-card img[src^='data:image/png;base64,']").first
    image.wait_for(timeout=60_000)
    assert image.is_visible()
    assert image.evaluate("img => img.complete && img.naturalWidth") > 100  # decoded, not a broken image
    assert "sigma vs k1" in image.get_attribute("alt")
    assert "Flow run" in section.inner_text() and "None" not in section.inner_text().split("Task runs")[0]


def test_lume_services_form_offers_both_registry_types(page, server_api):
    """A field typed as a union of two block types is a picker of the type, then of a saved
    block of it: LumeServices.registry offers the SQL and the MLflow registry."""
    page.goto(f"{server_api.url}/blocks/catalog/lume-services/create")
    page.get_by_text("The model registry: models, versions and the live version (SQL or MLflow).").wait_for(timeout=60_000)
    content = page.content()
    assert re.search(r"Model ?Registry", content) and re.search(r"MLflow ?Registry", content), "the registry field offers one type only"


@pytest.mark.timeout(900)  # a worker process, a flow run and a browser on a shared machine
def test_a_custom_run_from_the_ui_shows_its_outputs_on_its_run_page(page, server_api, tmp_path):
    """Issue 19.2: a Custom run of a deployed model version, submitted in the UI and run by a real
    process worker, shows on its own page the outputs with units and the result key."""
    import time
    from pathlib import Path

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    from lume_prefect.models.deploy import deploy_model, ensure_work_pool
    from tests.components import prefect_worker
    from tests.models.conftest import temp_services

    pool = f"lume-ui-{uuid.uuid4().hex[:6]}"
    name = f"ui-run-{uuid.uuid4().hex[:6]}"
    source = Path(__file__).resolve().parents[1] / "flows" / "toy_beam"

    def deploy():
        ensure_work_pool(pool)
        services = temp_services(tmp_path / "services", work_pool=pool)
        services.save(name, _sync=True)
        # the session's Prefect server is shared by test modules, each with its own services: take over
        # the version's deployment should another module's services own it (DeploymentOfOtherServices)
        return deploy_model("model.py:toy_beam", str(source), services=name, replace=True), services

    (tmp_path / "worker").mkdir()
    off_the_browser_thread(lambda: ensure_work_pool(pool))
    with prefect_worker(pool, server_api.env, tmp_path / "worker"):  # starts while the version deploys
        deployed, services = off_the_browser_thread(deploy)

        def runs_of_the_deployment():
            with get_client(sync_client=True) as client:
                return client.read_flow_runs(deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployed.deployment_id])))

        # the deployment is the server's `toy-beam/1.0.0`: earlier tests on this server deployed
        # and ran that version too, so the UI's run is the one that did not exist before Submit
        earlier = {r.id for r in off_the_browser_thread(runs_of_the_deployment)}
        page.goto(f"{server_api.url}/deployments/deployment/{deployed.deployment_id}/run")
        page.get_by_text("Initial rms size. Units: m. Range: 1e-06 to 0.1 m.", exact=True).first.wait_for(timeout=60_000)
        page.get_by_role("button", name=re.compile("^\\s*Submit\\s*$")).click()

        def submitted_run():
            submitted = [r for r in runs_of_the_deployment() if r.id not in earlier]
            assert len(submitted) <= 1, f"one Submit, {len(submitted)} new runs: {submitted}"
            return submitted[0] if submitted else None

        deadline = time.monotonic() + 600
        run = off_the_browser_thread(submitted_run)
        while not (run and run.state and run.state.is_final()):
            if time.monotonic() > deadline:
                log = (tmp_path / "worker" / "worker.log").read_text(errors="replace")[-3000:]
                raise AssertionError(f"the UI's run of {deployed.deployment_name} did not finish in 600 s: {run}; worker log:\n{log}")
            time.sleep(2)
            run = off_the_browser_thread(submitted_run)
    assert run.state.is_completed(), run.state
    [stored] = services.results.find(model="toy-beam", _sync=True)
    page.goto(f"{server_api.url}/runs/flow-run/{run.id}")
    page.get_by_text("Artifacts", exact=True).first.click()
    section = page.locator(".flow-run-artifacts")
    card = section.get_by_text(f"lume-prefect results show {stored.key[:12]}").first
    card.wait_for(timeout=60_000)
    assert card.is_visible()
    shown = section.inner_text()
    assert "toy-beam-outputs" in shown and stored.key[:12] in shown
    section.get_by_text("toy-beam-outputs").first.click()  # the artifact's own page: the table itself
    table = page.locator("table").first
    table.wait_for(timeout=60_000)
    cells = table.inner_text()
    assert "rms_x" in cells and "rms_px" in cells and "rad" in cells and "units" in cells
