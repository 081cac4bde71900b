"""Runs a batch of pickled Python calls inside a Slurm job: ``python -m lume_prefect.slurm.runner DIR``.

DIR (on the shared filesystem) holds ``function.pkl`` and ``batch-<e>.pkl``, a list of
``(item_index, args, kwargs)``; the element ``e`` is ``$SLURM_ARRAY_TASK_ID`` (0 for a plain
job). Each call's outcome is appended to ``result-<e>.pkl.partial`` as soon as it is known,
``(item_index, ("ok", value))`` or ``(item_index, ("error", exception, traceback))``, and the
file is renamed to ``result-<e>.pkl`` when the batch is done: a batch that Slurm ends early
(time limit, node failure) still returns the outcomes of the calls that finished.

Imports only the standard library, cloudpickle and ``lume_prefect.core.errors``: an element
starts in a few tens of milliseconds instead of the seconds that importing Prefect takes.
Prefect (or anything else) is imported only if the called function needs it.
"""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path


def main(directory: str) -> int:
    import cloudpickle

    from lume_prefect.core.errors import portable

    root = Path(directory)
    element = os.environ.get("SLURM_ARRAY_TASK_ID") or "0"
    target = root / f"result-{element}.pkl"
    partial = target.with_name(target.name + ".partial")
    failures = 0
    with open(partial, "wb") as out:
        try:
            function = cloudpickle.loads((root / "function.pkl").read_bytes())
            batch = cloudpickle.loads((root / f"batch-{element}.pkl").read_bytes())
        except BaseException as exc:  # noqa: BLE001 - the caller must learn why nothing ran
            cloudpickle.dump((None, ("error", portable(exc, cloudpickle.dumps, cloudpickle.loads), traceback.format_exc())), out)
            print(traceback.format_exc(), file=sys.stderr)
            out.close()
            os.replace(partial, target)
            return 1
        for index, args, kwargs in batch:
            try:
                outcome = ("ok", function(*args, **kwargs))
                payload = cloudpickle.dumps((index, outcome))
            except Exception as exc:  # noqa: BLE001 - one failed call must not lose the others
                failures += 1
                text = traceback.format_exc()
                print(f"item {index}: {text}", file=sys.stderr)
                payload = cloudpickle.dumps((index, ("error", portable(exc, cloudpickle.dumps, cloudpickle.loads), text)))
            out.write(payload)
            out.flush()
    os.replace(partial, target)
    return 1 if failures else 0


def read_outcomes(data: bytes) -> list[tuple]:
    """The ``(item_index, outcome)`` records of a result file (complete or partial)."""
    import io

    import cloudpickle

    stream, records = io.BytesIO(data), []
    while stream.tell() < len(data):
        try:
            records.append(cloudpickle.load(stream))
        except Exception:  # noqa: BLE001 - a record cut short by the job's end
            break
    return records


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
