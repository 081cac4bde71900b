"""Copy a registry into another, SQL or MLflow, either way: models, versions, aliases and
their history (who and when kept). Idempotent: what the target has already is left alone, so
a second copy writes nothing. No Prefect here."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lume_prefect.registry.errors import CopyConflict, ModelNotFound
from lume_prefect.registry.records import AliasChange
from lume_prefect.registry.versions import sort_key


@dataclass
class CopyReport:
    """What a copy wrote: models, versions and history entries (zero everywhere: nothing to do)."""

    models: list[str] = field(default_factory=list)
    versions: int = 0
    history: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.models or self.versions or self.history)


def _same(change: AliasChange) -> tuple[Any, ...]:
    return (change.alias, change.from_version, change.to_version, change.reverted_id is not None, change.changed_by)


def copy_registry(source: Any, target: Any) -> CopyReport:
    """Copy every model of ``source`` into ``target`` (stores: ``SQLRegistry`` or ``MLflowStore``).

    A model's history in the target must begin as the source's does: what the source has
    beyond it is appended (a target already further along is left alone); otherwise
    ``CopyConflict``. Versions keep who registered them; the time of
    registration is the copy's.
    """
    if hasattr(source, "fetch_sources"):
        source.fetch_sources = False  # copy where the code is recorded, not a local download
    report = CopyReport()
    for model in source.list_models():
        name = model.name
        try:
            target.get_model(name)
        except ModelNotFound:
            target.register_model(
                name, author=model.author, laboratory=model.laboratory, facility=model.facility,
                beampath=model.beampath, description=model.description, tags=model.tags,
            )
            report.models.append(name)
        present = {sort_key(v.version) for v in target.list_versions(name)}
        for version in reversed(source.list_versions(name)):  # oldest first
            if sort_key(version.version) in present:
                continue
            target.register_version(
                name, version.version, source=version.source, entrypoint=version.entrypoint, sha256=version.sha256,
                image=version.image, parameters_schema=version.parameters_schema, by=version.registered_by,
            )
            if version.deployment_name:
                target.set_deployment(name, version.version, deployment_name=version.deployment_name, deployment_id=version.deployment_id)
            report.versions += 1
        theirs, ours = source.history(name), target.history(name)
        common = min(len(ours), len(theirs))
        if [_same(c) for c in ours[:common]] != [_same(c) for c in theirs[:common]]:
            raise CopyConflict(name, f"of the first {common} changes, some differ")
        new = theirs[len(ours):]
        if new:
            position = {change.id: i for i, change in enumerate(theirs)}
            target.append_history(name, new, [None if c.reverted_id is None else position[c.reverted_id] for c in new])
            report.history += len(new)
    return report
