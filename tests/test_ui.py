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
        submit_run(page)

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


def submit_run(page):
    """Press the run form's Submit; the create_flow_run request and its (successful) response.
    The server's SQLite, locked by other writes on a busy machine, answers 503 (retryable:
    Prefect's client retries it, the UI shows the error and leaves it to the user, who submits
    again): up to three presses."""
    for _ in range(3):
        with page.expect_request(lambda r: r.method == "POST" and r.url.endswith("/create_flow_run"), timeout=60_000) as request:
            page.get_by_role("button", name=re.compile("^\\s*Submit\\s*$")).click()
        created = request.value.response()
        if created.status != 503:
            break
        page.wait_for_timeout(2000)
    assert created.ok, f"{created.status}: {created.text()}"
    return request.value, created


def form_property(page, label: str, ui: str):
    """The run form's field labelled ``label`` (its label, toggles and input) in the v1 (Vue) or
    v2 (React) UI. An object's field holds its sub-fields' labels too: the innermost is the last."""
    title = re.compile(f"^\\s*{re.escape(label)}(\\s*\\(Optional\\))?\\s*$")
    if ui == "v2":
        return page.locator("div.group").filter(has=page.locator("label").filter(has_text=title)).last
    return page.locator(".p-label").filter(has=page.locator(".p-label__label").filter(has_text=title)).last


def form_field(page, label: str, ui: str):
    """The input of the run form's field labelled ``label``."""
    return form_property(page, label, ui).locator("input, textarea").first


@pytest.fixture(scope="module")
def particles_deployment(prefect_server, tmp_path_factory):
    """The drift model (a ParticleGroup input, `beam`) deployed as ui-drift 1.0.0 on a pool that a
    real process worker serves, for the whole module: (its saved services, its deployment id)."""
    from lume_prefect.models.deploy import deploy_model, ensure_work_pool
    from tests.components import prefect_worker
    from tests.lume.conftest import write_source
    from tests.lume.particle_models import DRIFT
    from tests.models.conftest import temp_services

    home = tmp_path_factory.mktemp("ui-particles")
    pool, name = f"lume-ui-{uuid.uuid4().hex[:6]}", f"ui-particles-{uuid.uuid4().hex[:6]}"
    (home / "worker").mkdir()
    with prefect_api_at(prefect_server.api_url):
        off_the_browser_thread(lambda: ensure_work_pool(pool))
        with prefect_worker(pool, prefect_server.env, home / "worker"):  # starts while the version deploys

            def deploy():
                services = temp_services(home / "services", work_pool=pool)
                services.save(name, _sync=True)
                source = write_source(home / "drift", {"drift.py": DRIFT})
                return services, deploy_model("drift.py:make_drift", str(source), services=name, name="ui-drift", version="1.0.0")

            services, deployed = off_the_browser_thread(deploy)
            yield services, deployed.deployment_id, home / "worker" / "worker.log"


@pytest.mark.timeout(900)  # a worker process, a flow run and a browser on a shared machine
@pytest.mark.parametrize("ui", ["v1", "v2"])  # v2 (React) is what `/` opens by default since Prefect 3.9
def test_a_beam_put_in_the_file_block_runs_from_the_ui_form_and_is_stored_under_its_in_process_key(page, server_api, particles_deployment, ui, tmp_path):
    """A particles input's run form is the FileRef's fields (not a JSON editor), described as
    FORM_DESCRIPTION says; filled with the FileRef `lume-prefect files put` prints for a beam, its
    optional fields left blank, the run on the worker stores the beam under the key run_model
    computes in-process, reading the user's own file (no transport copy)."""
    import time

    from prefect.client.orchestration import get_client

    from lume_prefect.files import FileRef
    from lume_prefect.models.particles import FORM_DESCRIPTION
    from lume_prefect.results.codec import result_key, value_key
    from tests.lume.particle_models import drifted_mean_x, particles

    services, deployment_id, worker_log = particles_deployment
    seed = {"v1": 51, "v2": 52}[ui]
    beam = particles(seed=seed)
    beam.write(str(tmp_path / "beam.h5"))  # the user's own openPMD file, then `lume-prefect files put`'s upload
    ref = off_the_browser_thread(lambda: services.files.upload(tmp_path / "beam.h5", f"beams/ui-{ui}.h5", _sync=True))
    assert ref.serializer == "openpmd"

    page.goto(f"{server_api.url}{'/v2' if ui == 'v2' else ''}/deployments/deployment/{deployment_id}/run")
    # v1 renders the description's markdown (the command as code), v2 shows its backticks
    described = page.get_by_text(re.compile(re.escape(FORM_DESCRIPTION).replace("`", "`?")))
    described.first.wait_for(timeout=60_000)
    fields = FileRef.model_json_schema()["properties"]
    for name in ("path", "serializer", "sha256", "size"):  # each a field of its own: the form, not a JSON editor
        assert form_property(page, fields[name]["title"], ui).get_by_text(fields[name]["description"]).is_visible()
        form_field(page, fields[name]["title"], ui).fill(str(getattr(ref, name)))
    # the optional block (a str or None) made a text, typed in and cleared; the url left None
    form_property(page, "Block", ui).locator("button").filter(has_text=re.compile("^\\s*str\\s*$")).click()
    form_field(page, "Block", ui).fill("x")
    form_field(page, "Block", ui).fill("")
    page.screenshot(path=str(tmp_path / f"run-form-{ui}.png"), full_page=True)
    request, created = submit_run(page)
    sent = request.post_data_json["parameters"]
    # what the form sends: the fields filled in, and the optional ones left blank as null or not at all
    # (never "", which the product would also take as absent: models.particles.as_ref)
    assert {name: sent["beam"][name] for name in ("path", "serializer", "sha256", "size")} == ref.model_dump(include={"path", "serializer", "sha256", "size"})
    assert sent["beam"].get("block") is None and sent["beam"].get("url") is None, sent
    run_id = created.json()["id"]

    def state():
        with get_client(sync_client=True) as client:
            return client.read_flow_run(run_id).state

    deadline = time.monotonic() + 600
    while not ((current := off_the_browser_thread(state)) and current.is_final()):
        if time.monotonic() > deadline:
            raise AssertionError(f"the UI's run did not finish in 600 s: {current}; worker log:\n{worker_log.read_text(errors='replace')[-3000:]}")
        time.sleep(2)
    assert current.is_completed(), current
    key = result_key("ui-drift", "1.0.0", {"beam": particles(seed=seed), "length": 1.0})
    stored = off_the_browser_thread(lambda: services.results.get(key, _sync=True))
    assert str(stored.flow_run_id) == run_id and stored.inputs["beam"] == beam
    assert stored.outputs["mean_x"] == pytest.approx(drifted_mean_x(beam, 1.0))
    assert not off_the_browser_thread(lambda: services.files.exists(f"lume-inputs/particles/{value_key(beam)}.h5", _sync=True))
