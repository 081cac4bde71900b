"""The hardening matrix: bad inputs that must be clear errors, faults that must be survived.

One module per service; every test here failed before its fix (issue 11).
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def private_postgres():
    """A throwaway PostgreSQL cluster on a free port that tests may restart (never the shared one)."""
    from tests.hardening.postgres_cluster import PrivatePostgres

    server = PrivatePostgres()
    yield server
    server.remove()
