"""A separate process that races another on one registry, SQL or MLflow (run by test_concurrency).

    python -m tests.registry.racer URL GO_FILE register MODEL VERSION
    python -m tests.registry.racer URL GO_FILE promote MODEL VERSION [VERSION ...] --rounds N
    python -m tests.registry.racer URL GO_FILE first-use

It connects and warms up, prints ``ready``, waits until GO_FILE exists (so both processes
act at the same moment), acts, and prints one JSON line with what happened.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from lume_prefect.core.sql import sql_engine
from lume_prefect.registry import RegistryError
from lume_prefect.registry.stores import is_mlflow_uri, open_store


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("go_file")
    parser.add_argument("action", choices=["register", "promote", "first-use"])
    parser.add_argument("model", nargs="?")
    parser.add_argument("versions", nargs="*")
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()

    if args.action == "first-use":
        if not is_mlflow_uri(args.url):
            with sql_engine(args.url).engine.connect():  # connected, schema not yet checked
                pass
    else:
        registry = open_store(args.url)
        registry.get_model(args.model)  # connected, schema checked
    print("ready", flush=True)
    deadline = time.monotonic() + 60
    while not os.path.exists(args.go_file):
        if time.monotonic() > deadline:
            sys.exit("never told to go")
        time.sleep(0.001)

    result: dict[str, object] = {"pid": os.getpid()}
    try:
        if args.action == "first-use":
            result["models"] = len(open_store(args.url).list_models())
        elif args.action == "register":
            result["version"] = registry.register_version(args.model, args.versions[0], source="racer", entrypoint="m:f").version
        else:
            changes = []
            for i in range(args.rounds):
                change = registry.promote(args.model, args.versions[i % len(args.versions)], by=f"racer-{os.getpid()}")
                changes.append(change.id)
            result["changes"] = changes
        result["ok"] = True
    except RegistryError as exc:
        result.update(ok=False, error=type(exc).__name__, message=str(exc))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
