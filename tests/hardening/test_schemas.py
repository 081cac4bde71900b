"""Registry: a ``parameters_schema`` nested beyond any model's is refused naming the field and
the limit, before any SQL, on every backend (it was a bare RecursionError)."""

from __future__ import annotations

import pytest

from lume_prefect.core.sql import dispose_engines
from lume_prefect.registry import SQLRegistry
from lume_prefect.registry.errors import RegistryError
from lume_prefect.registry.validation import SCHEMA_DEPTH
from tests.databases import SQL_BACKENDS, fresh_database


def nested(depth: int) -> dict:
    """A schema whose dicts nest ``depth`` deep."""
    schema: dict = {"type": "object"}
    for _ in range(depth - 1):
        schema = {"x-lume": schema}
    return schema


@pytest.mark.parametrize("backend", SQL_BACKENDS)
@pytest.mark.parametrize("depth", [SCHEMA_DEPTH + 1, 1_000, 100_000])
def test_a_schema_nested_beyond_the_limit_is_refused_naming_field_and_limit(backend, depth):
    with fresh_database(backend) as url:
        registry = SQLRegistry(url)
        registry.register_model("deep", author="a", laboratory="l", facility="f", beampath="b")
        with pytest.raises(RegistryError, match=f"parameters_schema .*nested more than {SCHEMA_DEPTH} levels deep"):
            registry.register_version("deep", "1.0", source="s", entrypoint="m.py:f", parameters_schema=nested(depth))
        assert registry.list_versions("deep") == []
        # a schema as deep as the limit (MariaDB's) is stored and read back whole, on every backend
        kept = nested(SCHEMA_DEPTH)
        registry.register_version("deep", "1.1", source="s", entrypoint="m.py:f", parameters_schema=kept)
        assert registry.get_version("deep", "1.1").parameters_schema == kept
        dispose_engines()
