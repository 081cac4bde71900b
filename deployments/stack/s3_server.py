"""moto's S3 server that keeps its buckets across restarts: the S3 service of deployments/compose.yaml.

moto keeps everything in memory. This runs moto's own WSGI application and writes its S3
buckets (keys, data, metadata) to ``$MOTO_DATA_DIR/s3.pickle`` (a named volume in the
stack) half a second after the last change and when stopped (SIGTERM: ``compose down``),
and loads them at start. The file is replaced atomically, so a crash leaves the previous
snapshot. Runs with the python of the official motoserver/moto image and of the stand-in
(deployments/stack/moto.Dockerfile): ``python s3_server.py``; port from ``MOTO_PORT``.
"""

from __future__ import annotations

import os
import pickle
import signal
import sys
import threading
import time

from werkzeug.serving import make_server

from moto.core import DEFAULT_ACCOUNT_ID
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from moto.s3.models import s3_backends

DATA = os.path.join(os.environ.get("MOTO_DATA_DIR", "/var/lib/moto"), "s3.pickle")
PARTITION = "aws"
WRITES = {"PUT", "POST", "DELETE"}
lock = threading.Lock()  # one request at a time while the buckets are written out
saving = threading.Lock()  # the saver thread and the final save at stop write one file
changed = threading.Event()


def backend():
    return s3_backends[DEFAULT_ACCOUNT_ID][PARTITION]


def load() -> None:
    if os.path.exists(DATA):
        with open(DATA, "rb") as file:
            backend().buckets = pickle.load(file)
        print(f"s3-server: {len(backend().buckets)} bucket(s) loaded from {DATA}", flush=True)


def save() -> None:
    with saving:
        with lock:
            data = pickle.dumps(backend().buckets)
            changed.clear()
        temp = f"{DATA}.tmp"
        with open(temp, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, DATA)


def saver() -> None:
    while True:
        changed.wait()
        time.sleep(0.5)  # a burst of writes (a multipart upload's parts) is written out once
        save()


def application(app):
    def serve(environ, start_response):
        with lock:
            response = list(app(environ, start_response))
        if environ["REQUEST_METHOD"] in WRITES:
            changed.set()
        return response

    return serve


def main() -> None:
    os.makedirs(os.path.dirname(DATA), exist_ok=True)
    load()
    host = sys.argv[sys.argv.index("-H") + 1] if "-H" in sys.argv else "0.0.0.0"
    server = make_server(host, int(os.environ.get("MOTO_PORT", "5000")), application(DomainDispatcherApplication(create_backend_app)),
                         threaded=True, request_handler=MotoRequestHandler)

    def stop(*_: object) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    threading.Thread(target=saver, daemon=True).start()
    print(f"s3-server: serving on {host}:{server.server_port}, data in {DATA}", flush=True)
    server.serve_forever()
    save()
    print("s3-server: stopped, buckets saved", flush=True)


if __name__ == "__main__":
    main()
