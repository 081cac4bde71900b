"""Stores on real backends: SQLite (a file), PostgreSQL (127.0.0.1:5432), MariaDB (127.0.0.1:3306) and MongoDB's wire
protocol served by briskdb in its own process (no real mongod can be installed here)."""

from __future__ import annotations

import uuid

import pytest

from tests.databases import fresh_database

STORE_BACKENDS = ("sqlite", "postgresql", "mariadb", "mongo")


@pytest.fixture(scope="session")
def mongo_server(tmp_path_factory):
    from tests.results.mongo_server import MongoWireServer

    server = MongoWireServer(str(tmp_path_factory.mktemp("briskdb")))
    yield server
    server.stop()


def open_store(backend: str, request) -> object:
    """A fresh, empty store on ``backend``, closed (and its database dropped) after the test."""
    if backend == "mongo":
        from lume_prefect.results.mongo import MongoResultsStore

        server = request.getfixturevalue("mongo_server")
        store = MongoResultsStore(server.url, database=f"test_{uuid.uuid4().hex[:10]}")
        request.addfinalizer(store.close)
        return store
    from lume_prefect.results.sql import SQLResultsStore

    context = fresh_database(backend)
    url = context.__enter__()
    store = SQLResultsStore(url)
    request.addfinalizer(lambda: (store.close(), context.__exit__(None, None, None)))
    return store


@pytest.fixture(params=STORE_BACKENDS)
def store(request):
    """Each test using it runs on SQLite, PostgreSQL, MariaDB and the MongoDB wire protocol."""
    return open_store(request.param, request)


@pytest.fixture(params=("sqlite", "postgresql", "mariadb"))
def sql_store(request):
    return open_store(request.param, request)


@pytest.fixture
def sql_url(request):
    """A fresh PostgreSQL database's URL."""
    with fresh_database("postgresql") as url:
        yield url
