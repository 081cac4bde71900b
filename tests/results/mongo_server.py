"""A MongoDB-wire server for the tests: briskdb (an embedded engine behind the MongoDB protocol).

No real ``mongod`` can be installed on these machines (see the README, "Results store").
``python -m tests.results.mongo_server DATA_DIR`` serves on a free loopback port (printed as
``ready HOST:PORT``) until terminated; the tests talk to it only through pymongo over TCP.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time

import pytest

from tests.components import require


def serve(data_dir: str) -> None:
    import briskdb

    # Busy shards wait and retry inside the server instead of failing a write at once.
    contention = briskdb.ContentionPolicy(
        initial_delay_ms=1, max_delay_ms=50, multiplier=2, jitter="full", max_retries=400, max_elapsed_ms=20000
    )
    database = briskdb.open(data_dir, config=briskdb.Config(shards=2, documents=True, contention_policy=contention))
    # The listener briskdb.patch() uses: 32 sockets on a loopback port of its choosing (the
    # public serve(mongo=...) listener admits 8, fewer than eight pymongo clients open).
    listener = database._serve_mongo(index_build_timeout_ms=60000)
    print(f"ready {listener.address}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    listener.close()
    database.close()


class MongoWireServer:
    """briskdb serving the MongoDB wire protocol on 127.0.0.1, in its own process."""

    def __init__(self, data_dir: str) -> None:
        try:
            import briskdb  # noqa: F401
            import pymongo
        except ImportError:
            require("MongoDB-wire server (briskdb)", "pip install -e '.[test]' (briskdb, pymongo==4.17.0)")
        if pymongo.version_tuple[:2] >= (4, 18):
            pytest.fail(f"briskdb's handshake needs pymongo<4.18, found {pymongo.version}; install '.[test]'", pytrace=False)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.results.mongo_server", data_dir], stdout=subprocess.PIPE, text=True
        )
        line = self.process.stdout.readline()
        if not line.startswith("ready 127.0.0.1:"):
            self.stop()
            raise RuntimeError(f"briskdb did not start (exit {self.process.poll()}): {line!r}")
        self.url = f"mongodb://{line.split()[1]}"
        self._wait_until_answering()

    def _wait_until_answering(self, timeout: float = 20.0) -> None:
        import pymongo

        deadline = time.monotonic() + timeout
        while True:
            client = pymongo.MongoClient(self.url, serverSelectionTimeoutMS=1000)
            try:
                client.admin.command("ping")
                return
            except pymongo.errors.PyMongoError:
                if time.monotonic() > deadline:
                    raise
            finally:
                client.close()

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


if __name__ == "__main__":
    serve(sys.argv[1])
