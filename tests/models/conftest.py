"""Fixtures of the model tests: an isolated services environment and versions of toy-beam."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from pydantic import SecretStr

from tests.components import prefect_api_at

if TYPE_CHECKING:
    from lume_prefect.services import LumeServices

ROOT = Path(__file__).resolve().parents[2]
TOY_BEAM = ROOT / "flows" / "toy_beam" / "model.py"


def write_version(directory: Path, version: str, *, seed: int = 7, body: str | None = None) -> Path:
    """A copy of the toy-beam model as ``version`` (another seed gives other outputs)."""
    directory.mkdir(parents=True, exist_ok=True)
    code = TOY_BEAM.read_text().replace('version="1.0.0"', f'version="{version}"')
    code = code.replace("default_rng(7)", f"default_rng({seed})")
    if body is not None:
        code = code.replace("    rng = np.random.default_rng", f"    {body}\n    rng = np.random.default_rng", 1)
    (directory / "model.py").write_text(code)
    return directory


def temp_services(home: Path, **options) -> LumeServices:
    """A LumeServices on SQLite registry and results and local files under ``home``."""
    from lume_prefect.files import LocalFiles
    from lume_prefect.registry import ModelRegistry
    from lume_prefect.results import SQLResults
    from lume_prefect.services import LumeServices

    home.mkdir(parents=True, exist_ok=True)
    return LumeServices(
        files=LocalFiles(basepath=str(home / "files")),
        registry=ModelRegistry(url=SecretStr(f"sqlite:///{home / 'registry.db'}")),
        results=SQLResults(url=SecretStr(f"sqlite:///{home / 'results.db'}")),
        **options,
    )


@pytest.fixture(scope="module")
def real_api(prefect_server):
    """Prefect client calls of the module go to the session's real `prefect server start`."""
    with prefect_api_at(prefect_server.api_url):
        yield prefect_server


@pytest.fixture
def make_services(tmp_path):
    """Build (and optionally save) a LumeServices on private SQLite databases and files."""
    from lume_prefect.services import LumeServices

    def make(run_mode: str = "in-process", save: bool = True, work_pool: str = "lume-process") -> LumeServices:
        services = temp_services(tmp_path / f"services-{uuid.uuid4().hex[:6]}", run_mode=run_mode, work_pool=work_pool)
        if save:
            name = f"services-{uuid.uuid4().hex[:8]}"
            services.save(name, _sync=True)
            services = LumeServices.load(name, _sync=True)
        return services

    return make


@pytest.fixture
def toy_versions(tmp_path):
    """Sources of toy-beam 1.0.0 and 1.1.0 (different outputs) and 1.2.0 (always fails)."""
    return {
        "1.0.0": write_version(tmp_path / "v1.0.0", "1.0.0", seed=7),
        "1.1.0": write_version(tmp_path / "v1.1.0", "1.1.0", seed=8),
        "1.2.0": write_version(tmp_path / "v1.2.0", "1.2.0", body='raise RuntimeError("diverged: beam lost at the first quadrupole")'),
    }
