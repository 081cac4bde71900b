"""Runs a pickled Python call inside a Slurm job: ``python -m lume_prefect.slurm.runner DIR``.

DIR (on the shared filesystem) holds ``function.pkl`` and ``args-<i>.pkl``; the element
index ``i`` is ``$SLURM_ARRAY_TASK_ID`` (0 for a plain job). The outcome is written
atomically to ``result-<i>.pkl`` as ``("ok", value)`` or ``("error", exception, traceback)``.
"""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path


def _write(path: Path, payload: object) -> None:
    import cloudpickle

    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(cloudpickle.dumps(payload))
    os.replace(partial, path)


def main(directory: str) -> int:
    import cloudpickle

    root = Path(directory)
    index = os.environ.get("SLURM_ARRAY_TASK_ID") or "0"
    target = root / f"result-{index}.pkl"
    try:
        function = cloudpickle.loads((root / "function.pkl").read_bytes())
        args, kwargs = cloudpickle.loads((root / f"args-{index}.pkl").read_bytes())
        value = function(*args, **kwargs)
    except BaseException as exc:  # noqa: BLE001 - every failure goes back to the caller
        from lume_prefect.core.errors import portable

        text = traceback.format_exc()
        try:  # an exception the caller could not unpickle travels as a RemoteError
            _write(target, ("error", portable(exc, cloudpickle.dumps, cloudpickle.loads), text))
        except Exception:  # noqa: BLE001 - not even that: as text
            _write(target, ("error", None, text))
        print(text, file=sys.stderr)
        return 1
    _write(target, ("ok", value))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
