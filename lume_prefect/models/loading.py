"""Loading a model's flow from its registered entrypoint and source, and its spec from the flow."""

from __future__ import annotations

import os
import sys
from typing import Any, Optional

from lume_prefect.models.contract import ModelSpec
from lume_prefect.models.plain import loading_from

_flows: dict[tuple[str, str], Any] = {}


def load_model_flow(entrypoint: str, source: str) -> Any:
    """The flow at ``entrypoint`` (``path.py:flow`` or ``module:flow``), relative to a local ``source`` directory."""
    from prefect.flows import load_flow_from_entrypoint

    key = (source, entrypoint)
    if key not in _flows:
        target = entrypoint
        if os.path.isdir(source):
            path, _, name = entrypoint.rpartition(":")
            if path.endswith(".py"):
                target = f"{os.path.join(source, path)}:{name}"
            elif source not in sys.path:
                sys.path.insert(0, source)
        with loading_from(source):
            _flows[key] = load_flow_from_entrypoint(target, use_placeholder_flow=False)
    return _flows[key]


def spec_of(model_flow: Any, entrypoint: str, source: str) -> ModelSpec:
    """The ``ModelSpec`` of a model flow (made by ``ModelSpec.flow``); TypeError for any other flow."""
    spec: Optional[ModelSpec] = getattr(model_flow, "lume_spec", None)
    if spec is None:
        raise TypeError(f"{entrypoint} in {source} is not a model flow: decorate it with ModelSpec.flow")
    return spec
