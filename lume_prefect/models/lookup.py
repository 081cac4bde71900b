"""Which registered version a run uses: by version, by alias or the live one; a model that
others registered in MLflow (a lume-torch model's ``register_to_mlflow``) comes with its
artifacts fetched and its spec read from its variables, so it runs like any other."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from lume_prefect.registry.records import FOREIGN_ENTRYPOINT, ModelVersion


def registered_version(registry: Any, name: str, version: Optional[str] = None) -> ModelVersion:
    """``version`` of model ``name`` (``1.2.0``; ``@ALIAS`` for the version an alias points at),
    else its live version."""
    if version and version.startswith("@"):
        found = registry.get_alias(name, version[1:], _sync=True)
    elif version:
        found = registry.get_version(name, version, _sync=True)
    else:
        found = registry.live_version(name, _sync=True)
    if found.entrypoint == FOREIGN_ENTRYPOINT:
        return _as_lume_model(registry, found)
    return found


def _as_lume_model(registry: Any, found: ModelVersion) -> ModelVersion:
    from lume_prefect.lume.entry import lume_registration
    from lume_prefect.models.errors import NotALumeModel

    folder = Path(registry.fetch_artifacts(found.model, found.version))
    model_file = lume_yaml(folder)
    if model_file is None:
        raise NotALumeModel(found.model, found.version)
    entrypoint, spec = lume_registration(model_file, str(folder), name=found.model, version=found.version)
    return found.model_copy(update={"source": str(folder), "entrypoint": entrypoint, "parameters_schema": spec.parameters_schema()})


def lume_yaml(folder: Path) -> Optional[str]:
    """The lume-torch model YAML among ``folder``'s files (relative path), if there is one."""
    import yaml

    for path in sorted(folder.rglob("*.y*ml")):
        try:
            text = yaml.safe_load(path.read_text())
        except (OSError, yaml.YAMLError, UnicodeDecodeError):
            continue
        if isinstance(text, dict) and "input_variables" in text and "output_variables" in text:
            return str(path.relative_to(folder))
    return None
