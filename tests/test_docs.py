"""The documentation site (issue 22): it builds strictly, holds everything the README used to,
documents every block type, command and environment variable, and renders in a real browser,
where the Prefect UI's block documentation links open the block's entry.

The code blocks of every page run in ``tests/test_readme.py`` (as the README's do).
"""

from __future__ import annotations

import functools
import http.server
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

from tests.components import PrefectServer, free_port
from tests.test_ui import browser  # noqa: F401 - the same headless Chromium fixture

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"

# The sections of the README before it became the site (1,854 lines): each is a page's title or
# one of its headings now.
README_SECTIONS = (
    "The two commands", "Layout", "Where the public names live", "File service", "Model registry", "Results store",
    "Models: the contract, running, cache, revert, reproduce, pipelines", "Scans: thousands of points at raw speed",
    "Deploying model versions", "With `lume-prefect deploy`", "With `prefect deploy` and `deployments/prefect.yaml`",
    "Work pools", "The image: `deployments/Dockerfile`", "Model versions in containers: the Docker work pool",
    "The services stack: `deployments/compose.yaml`", "Kubernetes: `deployments/k8s/`", "What was tested", "Slurm (HPC)",
    "The `SlurmCluster` block (`lume-slurm-cluster`)", "`SlurmJob`: a job spec that renders to a safe script",
    "Job control", "Tasks as jobs", "Flow runs as jobs: the `lume-slurm` worker and its work-pool template",
    "slurmrestd notes (22.05, OpenAPI v0.0.38)", "How the tests get real components", "Benchmark",
    "Profiles: block documents as code", "What we tried to break", "Tests", "Benchmarks",
)


def nav_pages() -> list[str]:
    config = yaml.load((ROOT / "mkdocs.yml").read_text(), Loader=yaml.SafeLoader)  # noqa: S506 - SafeLoader

    def walk(entries):
        for entry in entries:
            value = next(iter(entry.values())) if isinstance(entry, dict) else entry
            yield from (walk(value) if isinstance(value, list) else [value])

    return list(walk(config["nav"]))


def headings(page: str) -> list[str]:
    text, fence = [], False
    for line in (DOCS / page).read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith(("```", "~~~")):
            fence = not fence
        elif not fence and line.startswith("#"):
            text.append(re.sub(r"\s*\{#[\w-]+\}$", "", line.lstrip("#").strip()))
    return text


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The site built with ``mkdocs build --strict``: a warning (a broken link or anchor, a page
    left out of the nav, a docstring reference that does not resolve) fails the build."""
    target = tmp_path_factory.mktemp("site")
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(target)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"mkdocs build --strict failed:\n{done.stderr[-6000:]}"
    return target


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # no line per request on the test's stderr
        pass


@pytest.fixture(scope="module")
def served(site):
    """The built site on a local web server, as a facility serves it."""
    handler = functools.partial(QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


def test_the_readme_fits_on_a_few_screens():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 300, f"README.md has {len(lines)} lines"
    assert "## The two commands" in lines


def test_every_page_is_in_the_nav_and_every_readme_section_is_in_a_page():
    pages = nav_pages()
    on_disk = sorted(str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md"))
    assert sorted(pages) == on_disk, "pages not in the nav (or nav entries without a page)"
    found = {h for page in pages for h in headings(page)}
    found |= {line.strip() for line in (ROOT / "ARCHITECTURE.md").read_text().splitlines()}  # included by a page
    missing = [s for s in README_SECTIONS if s not in found and not any(h.startswith(s.split(":")[0]) for h in found)]
    assert not missing, f"README sections with no page: {missing}"


def test_every_environment_variable_the_code_reads_is_documented():
    read = set()
    for path in (ROOT / "lume_prefect").rglob("*.py"):
        read |= set(re.findall(r"[\"'](LUME_[A-Z0-9_]+)[\"']", path.read_text(encoding="utf-8")))
    documented = (DOCS / "reference" / "environment.md").read_text(encoding="utf-8")
    assert read, "no LUME_ variables found: the pattern is wrong"
    assert not [v for v in sorted(read) if f"`{v}`" not in documented], "undocumented"


@pytest.mark.slow
def test_the_site_builds_strictly_with_the_generated_reference(site):
    from lume_prefect.cli import app
    from lume_prefect.core.blocks import DEFAULT_DOCS_URL, docs_url
    from tests.cli.test_help import COMMANDS

    blocks = (site / "reference" / "blocks" / "index.html").read_text(encoding="utf-8")
    sys.path.insert(0, str(DOCS / "hooks"))
    try:
        from reference import block_classes
    finally:
        sys.path.pop(0)
    classes = block_classes()
    assert len(classes) >= 8
    for cls in classes:
        slug = cls.get_block_type_slug()
        assert f'id="{slug}"' in blocks, f"no entry for block type {slug}"
        assert cls._documentation_url == docs_url(slug) and docs_url(slug).startswith(DEFAULT_DOCS_URL)
        for name, prop in cls.model_json_schema()["properties"].items():
            assert f"<code>{name}</code>" in blocks and prop.get("description", "")[:30].split("<")[0] in blocks
    cli = (site / "reference" / "cli" / "index.html").read_text(encoding="utf-8")
    for path, command in COMMANDS:
        if not command.show:  # a hidden alias (`files list` of `files ls`): its command is there
            continue
        assert f'id="{"-".join(path)}"' in cli, f"lume-prefect {' '.join(path)} is not in the CLI reference"
    assert app.help.split(":")[0] in cli
    api = (site / "reference" / "api" / "files" / "index.html").read_text(encoding="utf-8")
    assert 'id="lume_prefect.files.blocks.LocalFiles"' in api and "Examples" in api


@pytest.mark.ui
@pytest.mark.slow
def test_home_and_api_reference_render_in_chromium(browser, served, tmp_path):
    page = browser.new_page(viewport={"width": 1300, "height": 900})
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        page.goto(served)
        title = page.locator("article h1").first
        title.wait_for(timeout=30_000)
        assert title.inner_text().startswith("lume-prefect")
        assert page.locator("article").get_by_role("link", name="Your first model").first.is_visible()
        page.screenshot(path=str(tmp_path / "home.png"), full_page=True)
        page.goto(served + "reference/api/files/")
        entry = page.locator('[id="lume_prefect.files.blocks.LocalFiles"]')
        entry.wait_for(timeout=30_000)
        assert entry.is_visible() and "LocalFiles" in entry.inner_text()
        page.screenshot(path=str(tmp_path / "api.png"))
    finally:
        page.close()
    assert not errors, errors
    assert (tmp_path / "home.png").stat().st_size > 20_000 and (tmp_path / "api.png").stat().st_size > 20_000


@pytest.mark.ui
@pytest.mark.slow
def test_the_ui_block_documentation_links_open_the_block_entry(browser, served, tmp_path_factory):
    server = PrefectServer(tmp_path_factory.mktemp("docs-server"), env={"LUME_PREFECT_DOCS_URL": served})
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        for slug in ("lume-local-files", "lume-services", "lume-slurm-cluster"):
            page.goto(f"{server.url}/blocks/catalog/{slug}")
            link = page.locator(f'a[href="{served}reference/blocks/#{slug}"]').first
            link.wait_for(timeout=60_000)
            with page.context.expect_page() if link.get_attribute("target") == "_blank" else _same_page(page) as opened:
                link.click()
            docs = opened.value if hasattr(opened, "value") else page
            entry = docs.locator(f'[id="{slug}"]')
            entry.wait_for(timeout=30_000)
            assert entry.is_visible() and docs.url.startswith(served)
            if docs is not page:
                docs.close()
    finally:
        page.close()
        server.stop()


class _same_page:
    def __init__(self, page):
        self.page = page

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.page.wait_for_load_state()
        return False


# -- the UI tutorial, run whole against a real server and worker -------------------------------


def tutorial_steps(page: str) -> tuple[list[str], list[str]]:
    """(shell commands, python blocks) of a tutorial, in order, from the snippet reader."""
    from tests.test_readme import read_snippets, shell_commands

    snippets = read_snippets(f"docs/{page}")
    return ([c for s in snippets for c in shell_commands(s)],
            [s.code for s in snippets if s.lang in ("python", "py")])


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_deploy_and_run_from_the_ui_tutorial_runs_as_written(tmp_path_factory, tmp_path):
    """Its commands in order, in a checkout-like directory: a server, the pool, a worker, the
    deploy, the promote, the Python block (marked not run for the snippet test: it needs this
    worker), a deployment run and the results list, each as the tutorial writes it."""
    import json
    import os
    import shlex
    import shutil
    import time

    commands, blocks = tutorial_steps("tutorials/deploy-and-run-from-the-ui.md")
    server = PrefectServer(tmp_path_factory.mktemp("tutorial-server"))
    work = tmp_path / "work"
    for folder in ("flows", "deployments"):
        shutil.copytree(ROOT / folder, work / folder, ignore=shutil.ignore_patterns("__pycache__", "lume-data"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("LUME_") or k == "LUME_REQUIRE_COMPONENTS"}
    env.pop("PREFECT_TEST_MODE", None)
    env.update(PREFECT_API_URL=server.api_url, LUME_PREFECT_HOME=str(tmp_path / "home"), PREFECT_WORKER_QUERY_SECONDS="1",
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    worker, ran = None, []
    try:
        for command in commands:
            words = shlex.split(command, comments=True)
            if words[:3] == ["prefect", "server", "start"] or words[:1] == ["export"]:
                ran.append(command)  # this test's server is that server; PREFECT_API_URL is exported above
                continue
            if words[:3] == ["prefect", "worker", "start"]:
                worker = subprocess.Popen(words, cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True)
                ran.append(command)
                continue
            done = subprocess.run(words, cwd=work, env=env, capture_output=True, text=True, timeout=300)
            assert done.returncode == 0, f"`{command}` failed:\n{done.stdout}\n{done.stderr[-3000:]}"
            ran.append(command)
            if words[:2] == ["lume-prefect", "deploy"]:
                assert "toy-beam/1.0.0" in done.stdout
            if words[:3] == ["prefect", "deployment", "run"]:
                assert "toy-beam/1.0.0" in done.stdout
            if words[:3] == ["lume-prefect", "results", "list"]:
                assert "toy-beam" in done.stdout
            if words[:2] == ["prefect", "deployment"] or words[:3] == ["lume-prefect", "models", "promote"]:
                for code in blocks:  # the Python block runs after the version is promoted
                    script = tmp_path / "tutorial.py"
                    script.write_text(code)
                    result = subprocess.run([sys.executable, str(script)], cwd=work, env=env, capture_output=True, text=True, timeout=300)
                    assert result.returncode == 0, result.stderr[-3000:]
                    assert result.stdout.startswith("remote "), result.stdout
                blocks = []
        assert worker is not None and len(ran) == len(commands)
        deadline, stored = time.monotonic() + 120, []
        while not stored and time.monotonic() < deadline:  # the `prefect deployment run` flow run, run by the worker
            done = subprocess.run(["lume-prefect", "results", "list", "--model", "toy-beam", "--input", "sigma_x=0.003", "--json"],
                                  cwd=work, env=env, capture_output=True, text=True, timeout=120)
            assert done.returncode == 0, done.stderr
            stored = json.loads(done.stdout)
            time.sleep(0 if stored else 2)
        assert len(stored) == 1, "the deployment run of the tutorial stored no result"
    finally:
        if worker is not None:
            import signal

            os.killpg(worker.pid, signal.SIGINT)
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
        server.stop()
