"""What the registry returns: immutable pydantic records, never ORM rows."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Optional

from pydantic import BaseModel, ConfigDict, Field

LIVE = "live"
# The entrypoint of a version registered in MLflow by others (no lume tags): run_model fetches
# its artifacts and, when they hold a lume-torch model YAML, runs that (models/lookup.py).
FOREIGN_ENTRYPOINT = "mlflow:registered_by_others"


class RegisteredModel(BaseModel):
    """A model with its standard LUME metadata, tags and current aliases."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(description="Unique name of the model.")
    author: str = Field(description="Who wrote or maintains the model.")
    laboratory: str = Field(description="Laboratory owning the model, e.g. SLAC.")
    facility: str = Field(description="Facility the model describes, e.g. LCLS.")
    beampath: str = Field(description="Beam path the model covers, e.g. cu_hxr.")
    description: str = Field(default="", description="Free text.")
    tags: dict[str, str] = Field(default_factory=dict, description="Free key/value tags.")
    created_at: datetime = Field(description="When the model was registered (UTC).")
    aliases: dict[str, str] = Field(default_factory=dict, description="Alias -> version, e.g. {'live': '1.2.0'}.")

    @property
    def live_version(self) -> Optional[str]:
        """The version the ``live`` alias points at, if any."""
        return self.aliases.get(LIVE)


class ModelVersion(BaseModel):
    """One version of a model: where its code is, how to run it, and where it is deployed."""

    model_config = ConfigDict(frozen=True)

    model: str = Field(description="Name of the model.")
    version: str = Field(description="PEP 440 version, in normal form.")
    source: str = Field(description="Where the code is: a package spec, git URL or archive.")
    entrypoint: str = Field(description="The flow to run: 'module:flow' or 'path.py:flow'.")
    sha256: Optional[str] = Field(default=None, description="SHA-256 of the source, when known.")
    image: Optional[str] = Field(default=None, description="Container image or environment the version runs in.")
    parameters_schema: Optional[dict[str, Any]] = Field(default=None, description="JSON schema of the flow's inputs.")
    registered_at: datetime = Field(description="When the version was registered (UTC).")
    registered_by: str = Field(description="Who registered it.")
    deployment_name: Optional[str] = Field(default=None, description="Prefect deployment ('flow/deployment'), once deployed.")
    deployment_id: Optional[str] = Field(default=None, description="Prefect deployment id, once deployed.")
    deployed_at: Optional[datetime] = Field(default=None, description="When the deployment was recorded (UTC).")


class AliasChange(BaseModel):
    """One change of an alias, as recorded in the history."""

    model_config = ConfigDict(frozen=True)

    id: int = Field(description="Position in the history (increasing).")
    model: str = Field(description="Name of the model.")
    alias: str = Field(description="The alias that changed, e.g. 'live'.")
    from_version: Optional[str] = Field(description="Version the alias pointed at before (None: it was unset).")
    to_version: Optional[str] = Field(description="Version it points at after (None: it was removed).")
    reverted_id: Optional[int] = Field(default=None, description="For a revert: the id of the change it undid.")
    changed_at: datetime = Field(description="When (UTC).")
    changed_by: str = Field(description="Who.")

    @property
    def action(self) -> str:
        if self.reverted_id is not None:
            return "revert"
        return "remove" if self.to_version is None else "set"


def change_to_undo(changes: Iterable[Any]) -> Optional[Any]:
    """The change ``revert`` undoes, of ``changes`` (oldest first, each with a ``reverted_id``):
    reverts undo changes one at a time, newest first, so the newest change not yet undone."""
    stack: list[Any] = []
    for change in changes:
        if change.reverted_id is None:
            stack.append(change)
        elif stack:
            stack.pop()
    return stack[-1] if stack else None
