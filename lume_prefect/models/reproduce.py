"""Reproduce a stored result: re-run its exact model version and inputs, compare outputs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from lume_prefect.models.run import ModelRun, run_model
from lume_prefect.core.resolve import resolve
from lume_prefect.services import LumeServices


@dataclass(frozen=True)
class Reproduction:
    """The stored result, the new run, and the outputs that differ (name -> (stored, new))."""

    key: str
    stored: Any
    rerun: ModelRun
    differences: dict[str, tuple[Any, Any]] = field(default_factory=dict)

    @property
    def matches(self) -> bool:
        return not self.differences


def values_match(a: Any, b: Any, rtol: float, atol: float) -> bool:
    """Equal, or numerically close (scalars and arrays), recursively through dicts and lists."""
    import numpy as np

    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(values_match(a[k], b[k], rtol, atol) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)) and len(a) != len(b):
        return False
    try:
        left, right = np.asarray(a), np.asarray(b)
        if left.dtype.kind in "fciub" and right.dtype.kind in "fciub":
            return left.shape == right.shape and bool(np.allclose(left, right, rtol=rtol, atol=atol, equal_nan=True))
    except (TypeError, ValueError):
        pass
    return bool(a == b) if not hasattr(a == b, "all") else bool((a == b).all())


def reproduce(
    key: str, *, services: LumeServices | str | None = None, rtol: float = 1e-9, atol: float = 0.0, mode: Optional[str] = None
) -> Reproduction:
    """Re-run the version and inputs stored under ``key`` (or its first 4 or more hex digits, if
    unique) -- never from the cache -- and compare outputs."""
    from lume_prefect.results.errors import ResultNotFound

    for name, value in (("rtol", rtol), ("atol", atol)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < float("inf"):
            raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    env = resolve(services, "services")
    key = env.results.full_key(key, _sync=True)  # a key's first digits, as logs and tables show them, name it too
    stored = env.results.get(key, _sync=True)
    if stored is None:
        raise ResultNotFound(key, f"the results store of {env._block_document_name or 'these services'}")
    rerun = run_model(stored.model, stored.inputs, stored.version, refresh=True, services=env, mode=mode)  # type: ignore[arg-type]
    names = set(stored.outputs) | set(rerun.outputs)
    differences = {
        name: (stored.outputs.get(name), rerun.outputs.get(name))
        for name in sorted(names)
        if not values_match(stored.outputs.get(name), rerun.outputs.get(name), rtol, atol)
    }
    return Reproduction(key, stored, rerun, differences)

