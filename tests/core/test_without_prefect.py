"""What store-only commands read without importing Prefect (issue 19.1) agrees with what
Prefect and Alembic say: Prefect's settings (API URL, home, database) from the environment
and the profiles file, and a schema's head revision from its revision files."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.unit

_BOTH = (
    "import json; from lume_prefect.core.saved_blocks import _settings_without_prefect as quick\n"
    "known = quick(); known = known and [known[0], str(known[1]), known[2]]\n"
    "from prefect.settings import get_current_settings; s = get_current_settings(); url = s.server.database.connection_url\n"
    "print(json.dumps([known, [s.api.url, str(s.home), url.get_secret_value() if url else None]]))"
)


def _both(tmp_path, env: dict[str, str], cwd=None):
    base = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    base.update(PREFECT_HOME=str(tmp_path / "home"), **env)
    done = subprocess.run([sys.executable, "-c", _BOTH], capture_output=True, text=True, env=base, cwd=cwd or tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.parametrize("profile, env, api, database", [
    (None, {}, None, None),
    (None, {"PREFECT_API_URL": "http://127.0.0.1:4200/api"}, "http://127.0.0.1:4200/api", None),
    ('active = "remote"\n[profiles.remote]\nPREFECT_API_URL = "http://h:4200/api"\n', {}, "http://h:4200/api", None),
    ('active = "remote"\n[profiles.remote]\nPREFECT_API_URL = "http://h:4200/api"\n', {"PREFECT_PROFILE": "other"}, None, None),
    ('active = "db"\n[profiles.db]\nPREFECT_SERVER_DATABASE_CONNECTION_URL = "sqlite+aiosqlite:////srv/p.db"\n', {}, None, "sqlite+aiosqlite:////srv/p.db"),
    (None, {"PREFECT_API_DATABASE_CONNECTION_URL": "sqlite+aiosqlite:////srv/q.db"}, None, "sqlite+aiosqlite:////srv/q.db"),
])
def test_prefect_settings_read_without_prefect_agree_with_prefect(tmp_path, profile, env, api, database):
    (tmp_path / "home").mkdir()
    if profile is not None:
        (tmp_path / "home" / "profiles.toml").write_text(profile)
    quick, prefect = _both(tmp_path, env)
    assert quick == prefect
    assert quick == [api, str(tmp_path / "home"), database or f"sqlite+aiosqlite:///{tmp_path / 'home'}/prefect.db"]


@pytest.mark.parametrize("name, text", [
    ("prefect.toml", '[api]\nurl = "http://h:4200/api"\n'),
    ("pyproject.toml", '[tool.prefect.api]\nurl = "http://h:4200/api"\n'),
    (".env", "PREFECT_API_URL=http://h:4200/api\n"),
])
def test_settings_from_the_working_directory_are_left_to_prefect(tmp_path, name, text):
    (tmp_path / name).write_text(text)
    quick, prefect = _both(tmp_path, {})
    assert quick is None and prefect[0] == "http://h:4200/api"


def test_a_database_given_by_its_parts_is_left_to_prefect(tmp_path):
    quick, _ = _both(tmp_path, {"PREFECT_SERVER_DATABASE_HOST": "db.example.org"})
    assert quick is None


@pytest.mark.parametrize("module", ["lume_prefect.registry.migrate", "lume_prefect.results.sql"])
def test_the_head_read_from_the_revision_files_is_alembics(module):
    import importlib

    migrations = importlib.import_module(module).MIGRATIONS
    assert migrations._listed_head is not None
    assert migrations._listed_head == migrations._script.get_current_head()


def test_the_revision_read_with_plain_sql_is_alembics(tmp_path):
    import sqlalchemy as sa
    from alembic.runtime.migration import MigrationContext

    from lume_prefect.core.sql import create_engine
    from lume_prefect.results.sql import MIGRATIONS

    engine = create_engine(f"sqlite:///{tmp_path / 'r.db'}")
    with engine.connect() as connection:
        assert MIGRATIONS.current(connection) is None
    MIGRATIONS.upgrade(engine, "0002")
    with engine.connect() as connection:
        alembic = MigrationContext.configure(connection, opts={"version_table": MIGRATIONS.version_table}).get_current_revision()
        assert MIGRATIONS.current(connection) == alembic == "0002"
        assert sa.inspect(connection).has_table(MIGRATIONS.version_table)
    engine.dispose()
