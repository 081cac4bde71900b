"""Eight real processes inserting overlapping results at once: nothing lost, nothing twice."""

from __future__ import annotations

import multiprocessing
import uuid

import pytest

from tests.databases import fresh_database
from tests.results.workers import CONTENDED, STRIDE, insert_overlapping, open_store, result

WORKERS = 8
pytestmark = pytest.mark.slow


@pytest.fixture(params=("sqlite", "postgresql", "mongo"))
def target(request):
    """(backend, where) of a fresh, never-used store: the workers also race to create its schema."""
    if request.param == "mongo":
        server = request.getfixturevalue("mongo_server")
        yield "mongo", f"{server.url}|race_{uuid.uuid4().hex[:8]}"
        return
    with fresh_database(request.param) as url:
        yield request.param, url


def test_eight_processes_lose_nothing_and_store_nothing_twice(target):
    backend, where = target
    context = multiprocessing.get_context("spawn")
    barrier, answers = context.Barrier(WORKERS), context.Queue()
    workers = [context.Process(target=insert_overlapping, args=(backend, where, w, barrier, answers)) for w in range(WORKERS)]
    for process in workers:
        process.start()
    won = dict(answers.get(timeout=240) for _ in workers)
    failed = {w: answer for w, answer in won.items() if isinstance(answer, BaseException)}
    assert not failed, f"workers failed: {failed}"
    for process in workers:
        process.join(timeout=60)
        assert process.exitcode == 0

    winners = [key for keys in won.values() for key in keys]
    contended = {result(i).key for i in range(CONTENDED)}
    assert sorted(winners) == sorted(contended)  # each contended key inserted exactly once
    expected = contended | {result(CONTENDED + i).key for i in range(STRIDE * (WORKERS + 1))}
    store = open_store(backend, where)
    try:
        assert store.count(model="contended") == len(expected)
        stored = {r.key for r in store.find(model="contended")}
        assert stored == expected
    finally:
        store.close()
