"""The model registry on an MLflow tracking server (MLflow's Model Registry). No Prefect here.

The same interface as ``SQLRegistry``, mapped onto what MLflow users already see:

- a model is a registered model; its standard metadata are the tags ``lume.author``,
  ``lume.laboratory``, ``lume.facility``, ``lume.beampath``; other tags are the user's own;
- a version is a model version whose ``lume.*`` tags hold our version string, its PEP 440
  sort key, source, entrypoint, sha256, image, inputs schema, who registered it and its
  Prefect deployment. Its run (experiment ``lume-prefect``) keeps ``lume-version.json`` and,
  for a local source, ``source.tar.gz``, so a worker or Slurm job elsewhere can fetch the code.
  A version registered by others (no ``lume.version`` tag) is its MLflow number;
- ``live`` is an MLflow alias (``live_alias``, default ``live``); every alias change is a
  registered-model tag ``lume.history.<n>`` (who, when, from, to), seen in the MLflow UI.

MLflow has no transactions, so alias changes of one model are serialised by a lock that
MLflow makes atomic: creating the registered model ``"<name> lume-lock"`` (a name the lume
model-name rule refuses, so no lume model has it), deleted when done; a lock older than
``LOCK_LEASE`` seconds is a crashed client's and is taken over.

Every request has the configured timeout and a retry budget inside it, so an unreachable
server is one ``RegistryUnreachable`` naming the URI (never its credentials) within it.

The public methods repeat ``SQLRegistry``'s signatures, as they must: the blocks call either
store with them (``delegate``), and a test holds the two equal. No abstract base: it would state
the signatures a third time, and what the stores share besides (every argument's check, the
fields a version records, which change a revert undoes) is in ``validation.py`` and
``records.py``, where both call it.
"""

from __future__ import annotations

import io
import json
import os
import random
import tarfile
import time
import urllib.parse
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Optional

from lume_prefect.registry import validation
from lume_prefect.registry.errors import (
    AliasNotFound,
    InvalidRegistryURL,
    InvalidValue,
    ModelExists,
    ModelNotFound,
    NoLiveVersion,
    NothingToRevert,
    NoVersions,
    RegistryBusy,
    RegistryUnreachable,
    UnknownFilter,
    VersionExists,
    VersionNotFound,
)
from lume_prefect.registry.records import FOREIGN_ENTRYPOINT, LIVE, AliasChange, ModelVersion, RegisteredModel, change_to_undo
from lume_prefect.registry.versions import parse_version, sort_key

METADATA_FIELDS = validation.METADATA_FIELDS
FILTER_FIELDS = ("name", *METADATA_FIELDS, "tags")
PREFIX = "lume."
HISTORY = "lume.history."
LOCK_SUFFIX = " lume-lock"
LOCK_LEASE = 60.0
EXPERIMENT = "lume-prefect"
MANIFEST = "lume-version.json"
SOURCE_ARCHIVE = "source.tar.gz"
_VERSION_FIELDS = ("source", "entrypoint", "sha256", "image", "registered_by", "deployment_name", "deployment_id")
_SKIP = {".git", "__pycache__", ".venv", ".mypy_cache", ".pytest_cache"}


def masked_uri(uri: str) -> str:
    """``uri`` without a password (``https://user:***@host``)."""
    parts = urllib.parse.urlsplit(uri)
    if parts.password is None:
        return uri
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def _ms(value: Optional[int]) -> datetime:
    return datetime.fromtimestamp((value or 0) / 1000, tz=timezone.utc)


def _utcnow() -> str:
    return datetime.now(timezone.utc).isoformat()


class MLflowStore:
    """Models, versions, aliases and their history in MLflow's Model Registry (see the module
    docstring). ``tracking_uri`` is the server's ``http(s)://`` address; ``username`` and
    ``password`` (basic auth) or ``token`` (bearer) authenticate; ``live_alias`` is the MLflow
    alias that means live; ``timeout`` bounds each request, retries included."""

    def __init__(
        self,
        tracking_uri: str,
        *,
        username: Optional[str] = None,
        password: Optional[str] = None,
        token: Optional[str] = None,
        live_alias: str = LIVE,
        timeout: float = 10.0,
    ):
        from mlflow.utils.rest_utils import MlflowHostCreds

        parts = urllib.parse.urlsplit(tracking_uri or "")
        self.label = masked_uri(tracking_uri or "")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidRegistryURL(self.label, "an MLflow tracking URI must be http(s)://host[:port]")
        if parts.password is not None:
            raise InvalidRegistryURL(self.label, "put the password in the block's password field, not in the URI")
        if not timeout or timeout <= 0:
            raise InvalidValue("timeout", timeout, "must be a positive number of seconds")
        self.tracking_uri = tracking_uri.rstrip("/")
        self.live_alias = _mlflow_alias(live_alias)
        self.timeout = float(timeout)
        self._creds = MlflowHostCreds(self.tracking_uri, username=username, password=password, token=token)
        self._registry = _registry_store(self._creds, self)
        self._experiment_id: Optional[str] = None
        # a version whose recorded source is not on this machine is given its uploaded copy
        self.fetch_sources = True

    # ---- plumbing ----------------------------------------------------------------

    def _request(self, endpoint: str, method: str, **kwargs: Any) -> Any:
        """One HTTP request with this store's timeout and retry budget; RegistryUnreachable
        (naming the masked URI) when the server does not answer in time."""
        import requests
        from mlflow.exceptions import MlflowException
        from mlflow.utils.rest_utils import http_request

        started = time.monotonic()
        try:
            return http_request(
                # three tries of a quarter each, with pauses of 1/16 and 1/8: within the timeout
                self._creds, endpoint, method, max_retries=2, backoff_factor=self.timeout / 16, backoff_jitter=0,
                timeout=max(self.timeout / 4, 0.25), **kwargs,
            )
        except (requests.exceptions.RequestException, MlflowException) as exc:
            if isinstance(exc, MlflowException) and not _is_connection_failure(exc):
                raise
            reason = type(exc.__cause__ or exc).__name__
            raise RegistryUnreachable(self.label, round(time.monotonic() - started, 1) or self.timeout, reason) from None

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return getattr(self._registry, method)(*args, **kwargs)

    def _get_registered(self, name: str) -> Any:
        from mlflow.exceptions import MlflowException

        try:
            return self._call("get_registered_model", name)
        except MlflowException as exc:
            if _code(exc) == "RESOURCE_DOES_NOT_EXIST":
                raise ModelNotFound(name) from None
            raise

    def _require_model(self, name: str) -> None:
        self._get_registered(name)

    def _check_name(self, name: Any) -> str:
        from mlflow.exceptions import MlflowException
        from mlflow.utils.validation import _validate_model_name

        validation.model_name(name)
        try:
            _validate_model_name(name)
        except MlflowException as exc:
            raise InvalidValue("model name", name, f"MLflow refuses it: {exc.message}") from None
        return name

    # ---- models ------------------------------------------------------------------

    def register_model(
        self,
        name: str,
        *,
        author: str,
        laboratory: str,
        facility: str,
        beampath: str,
        description: str = "",
        tags: Optional[dict[str, str]] = None,
        exist_ok: bool = False,
    ) -> RegisteredModel:
        """Register a model; with ``exist_ok`` an existing model of that name is returned unchanged."""
        from mlflow.entities.model_registry import RegisteredModelTag
        from mlflow.exceptions import MlflowException

        self._check_name(name)
        metadata = validation.model_metadata(author, laboratory, facility, beampath, description)
        description = metadata.pop("description")
        tag_map = _user_tags(tags)
        if exist_ok:
            try:
                return self.get_model(name)
            except ModelNotFound:
                pass
        all_tags = [RegisteredModelTag(PREFIX + f, v) for f, v in metadata.items()]
        all_tags += [RegisteredModelTag(k, v) for k, v in tag_map.items()]
        try:
            made = self._call("create_registered_model", name, tags=all_tags, description=description or None)
        except MlflowException as exc:
            if _code(exc) != "RESOURCE_ALREADY_EXISTS":
                raise
            if not exist_ok:
                raise ModelExists(name) from None
            return self.get_model(name)
        return self._model(made)

    def update_model(self, name: str, /, **changes: Any) -> RegisteredModel:
        """Change a model's metadata (author, laboratory, facility, beampath, description) or
        replace its ``tags``."""
        from mlflow.entities.model_registry import RegisteredModelTag

        self._check_name(name)
        allowed = (*METADATA_FIELDS, "description", "tags")
        for field in changes:
            if field not in allowed:
                raise InvalidValue("model field", field, f"fields that can change: {', '.join(allowed)}")
        values = {
            f: validation.text(f, v, required=f != "description", limit=None if f == "description" else validation.TEXT_LENGTH)
            for f, v in changes.items() if f != "tags"
        }
        new_tags = _user_tags(changes["tags"]) if "tags" in changes else None
        current = self._get_registered(name)
        if "description" in values:
            self._call("update_registered_model", name, values.pop("description"))
        for field, value in values.items():
            self._call("set_registered_model_tag", name, RegisteredModelTag(PREFIX + field, value))
        if new_tags is not None:
            for key in current.tags:
                if not key.startswith(PREFIX) and key not in new_tags:
                    self._call("delete_registered_model_tag", name, key)
            for key, value in new_tags.items():
                self._call("set_registered_model_tag", name, RegisteredModelTag(key, value))
        return self.get_model(name)

    def get_model(self, name: str) -> RegisteredModel:
        """The model called ``name`` with its metadata, tags and aliases."""
        self._check_name(name)
        return self._model(self._get_registered(name))

    def list_models(self, **filters: Any) -> list[RegisteredModel]:
        """Models matching every filter, by name (filters as ``SQLRegistry.list_models``)."""
        for field, value in filters.items():
            if field not in FILTER_FIELDS:
                raise UnknownFilter(field, list(FILTER_FIELDS))
            if field == "tags" and not isinstance(value, dict):
                raise InvalidValue("tags filter", value, "must be a dict of key -> value (or None)")
            if field != "tags":
                validation.text(f"{field} filter", value, required=False)
        found, token = [], None
        while True:
            page = self._call("search_registered_models", max_results=1000, page_token=token)
            found += [m for m in page if not m.name.endswith(LOCK_SUFFIX)]
            token = page.token
            if not token:
                break
        models = [self._model(m) for m in found]
        for field, value in filters.items():
            if field == "tags":
                models = [
                    m for m in models
                    if all(k in m.tags and (v is None or m.tags[k] == str(v)) for k, v in value.items())
                ]
            else:
                models = [m for m in models if getattr(m, field) == value]
        return sorted(models, key=lambda m: m.name)

    def _model(self, found: Any) -> RegisteredModel:
        tags = found.tags or {}
        aliases: dict[str, str] = {}
        if found.aliases:
            numbers = {v.version: v for v in self._mlflow_versions(found.name)}
            for alias, number in found.aliases.items():
                if str(number) in numbers:
                    aliases[self._our_alias(alias)] = _our_version(numbers[str(number)])
        return RegisteredModel.model_construct(
            name=found.name,
            **{f: tags.get(PREFIX + f, "") for f in METADATA_FIELDS},
            description=found.description or "",
            tags=dict(sorted((k, v) for k, v in tags.items() if not k.startswith(PREFIX))),
            created_at=_ms(found.creation_timestamp),
            aliases=dict(sorted(aliases.items())),
        )

    # ---- versions ----------------------------------------------------------------

    def _mlflow_versions(self, name: str) -> list[Any]:
        found, token = [], None
        while True:
            page = self._call("search_model_versions", filter_string=f"name = '{name}'", max_results=10000, page_token=token)
            found += list(page)
            token = page.token
            if not token:
                return found

    def _find(self, name: str, version: str) -> Optional[Any]:
        """The MLflow model version that is our ``version`` (PEP 440 equal), lowest number first."""
        key = sort_key(parse_version(version, name))
        matching = [v for v in self._mlflow_versions(name) if _sort_key(v) == key]
        return min(matching, key=lambda v: int(v.version)) if matching else None

    def register_version(
        self,
        name: str,
        version: str,
        *,
        source: str,
        entrypoint: str,
        sha256: Optional[str] = None,
        image: Optional[str] = None,
        parameters_schema: Optional[dict[str, Any]] = None,
        by: Optional[str] = None,
    ) -> ModelVersion:
        """Record a new version of a registered model. ``by`` defaults to the OS user. A local
        ``source`` is uploaded to the version's run as ``source.tar.gz``."""
        from mlflow.entities.model_registry import ModelVersionTag

        self._check_name(name)
        fields = validation.version_fields(name, version, source, entrypoint, sha256, image, parameters_schema, by)
        self._require_model(name)
        existing = self._find(name, version)
        if existing is not None:
            raise VersionExists(name, version, _our_version(existing))
        run_id, artifact_uri, uploaded = self._record_run(name, fields)
        tags = {k: v for k, v in fields.items() if v is not None}
        if tags.get("parameters_schema") is not None:
            tags["parameters_schema"] = json.dumps(tags["parameters_schema"], sort_keys=True)
        if uploaded:
            tags["source_archive"] = SOURCE_ARCHIVE
        made = self._call(
            "create_model_version", name, artifact_uri, run_id=run_id,
            tags=[ModelVersionTag(PREFIX + k, v) for k, v in tags.items()],
            description=f"lume-prefect version {fields['version']}",
        )
        # No unique constraint on our version in MLflow: of two equal versions made at once,
        # the lower MLflow number wins and the other is deleted again.
        winner = self._find(name, version)
        if winner is not None and winner.version != made.version:
            self._call("delete_model_version", name, made.version)
            raise VersionExists(name, version, _our_version(winner))
        return self._version(made)

    def _record_run(self, name: str, fields: dict[str, Any]) -> tuple[str, str, bool]:
        """A finished run in experiment ``lume-prefect`` holding the version's manifest (and
        its source when local): (run id, artifact URI, source uploaded)."""
        store = self._tracking()
        if self._experiment_id is None:
            self._experiment_id = self._experiment(store)
        run = store.create_run(
            self._experiment_id, user_id=fields["registered_by"], start_time=int(time.time() * 1000), tags=[],
            run_name=f"{name} {fields['version']}",
        )
        artifact_uri = run.info.artifact_uri
        manifest = json.dumps({"model": name, **{k: v for k, v in fields.items() if k != "sort_key"}}, indent=2, sort_keys=True)
        self._put_artifact(artifact_uri, MANIFEST, manifest.encode())
        uploaded = False
        if os.path.exists(fields["source"]):
            self._put_artifact(artifact_uri, SOURCE_ARCHIVE, _archive(Path(fields["source"])))
            uploaded = True
        store.update_run_info(run.info.run_id, "FINISHED", int(time.time() * 1000), None)
        return run.info.run_id, artifact_uri, uploaded

    def _experiment(self, store: Any) -> str:
        from mlflow.exceptions import MlflowException

        found = store.get_experiment_by_name(EXPERIMENT)
        if found is not None:
            return found.experiment_id
        try:
            return store.create_experiment(EXPERIMENT)
        except MlflowException as exc:  # made by another client just now
            if _code(exc) != "RESOURCE_ALREADY_EXISTS":
                raise
            return store.get_experiment_by_name(EXPERIMENT).experiment_id

    def _tracking(self) -> Any:
        from mlflow.store.tracking.rest_store import RestStore

        creds = self._creds
        return RestStore(lambda: creds)

    def _artifact_endpoint(self, artifact_uri: str, path: str) -> str:
        parsed = urllib.parse.urlsplit(artifact_uri)
        if parsed.scheme != "mlflow-artifacts":
            raise InvalidValue("artifact location", artifact_uri, "lume-prefect reads and writes sources through the server (mlflow server --serve-artifacts)")
        return f"/api/2.0/mlflow-artifacts/artifacts/{parsed.path.strip('/')}/{path}"

    def _put_artifact(self, artifact_uri: str, path: str, data: bytes) -> None:
        from mlflow.utils.request_utils import augmented_raise_for_status

        response = self._request(self._artifact_endpoint(artifact_uri, path), "PUT", data=data)
        augmented_raise_for_status(response)

    def fetch_source(self, name: str, version: str) -> Path:
        """The uploaded source of a version, unpacked in the lume-prefect data directory (once)."""
        return self._fetched(self._existing(name, version))

    def _fetched(self, found: Any) -> Path:
        from mlflow.utils.request_utils import augmented_raise_for_status

        from lume_prefect.core.paths import data_dir

        target = data_dir() / "mlflow-sources" / f"{found.run_id or found.name}-{found.version}"
        if (target / ".complete").exists():
            return target
        if found.tags.get(PREFIX + "source_archive") != SOURCE_ARCHIVE:
            raise InvalidValue("source", found.tags.get(PREFIX + "source"), f"{found.name} {_our_version(found)} has no uploaded source")
        response = self._request(self._artifact_endpoint(found.source, SOURCE_ARCHIVE), "GET")
        augmented_raise_for_status(response)
        staging = target.with_name(target.name + f".{os.getpid()}.part")
        staging.mkdir(parents=True, exist_ok=True)
        with tarfile.open(fileobj=io.BytesIO(response.content), mode="r:gz") as archive:
            archive.extractall(staging, filter="data")  # no path leaves the directory
        return _publish(staging, target)

    def fetch_artifacts(self, name: str, version: str) -> Path:
        """The artifacts of a version registered by others (its run's, else its source's),
        downloaded once into the lume-prefect data directory; MLflow's own client does it, so
        credentials come from ``MLFLOW_TRACKING_USERNAME``/``_PASSWORD`` or ``_TOKEN``."""
        import shutil

        from mlflow.artifacts import download_artifacts

        from lume_prefect.core.paths import data_dir

        found = self._existing(name, version)
        target = data_dir() / "mlflow-models" / f"{found.name}-{found.version}"
        if (target / ".complete").exists():
            return target
        staging = target.with_name(target.name + f".{os.getpid()}.part")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        where = {"run_id": found.run_id} if found.run_id else {"artifact_uri": found.source}
        download_artifacts(**where, dst_path=str(staging), tracking_uri=self.tracking_uri)
        return _publish(staging, target)

    def get_version(self, name: str, version: str) -> ModelVersion:
        """One version of a model; ``1.0`` finds ``1.0.0`` (PEP 440 equality)."""
        self._check_name(name)
        parse_version(version, name)
        found = self._find(name, version)
        if found is None:
            self._require_model(name)
            raise VersionNotFound(name, version)
        return self._version(found)

    def list_versions(self, name: str) -> list[ModelVersion]:
        """All versions of a model, newest first in PEP 440 order (1.10 above 1.9)."""
        self._check_name(name)
        found = self._mlflow_versions(name)
        if not found:
            self._require_model(name)
        found.sort(key=lambda v: (_sort_key(v), -int(v.version)), reverse=True)
        seen, unique = set(), []
        for v in found:
            if _sort_key(v) not in seen:  # an equal version made at once, not yet deleted
                seen.add(_sort_key(v))
                unique.append(v)
        return [self._version(v) for v in unique]

    def latest_version(self, name: str) -> ModelVersion:
        """The highest version of a model in PEP 440 order."""
        found = self.list_versions(name)
        if not found:
            raise NoVersions(name)
        return found[0]

    def set_deployment(
        self, name: str, version: str, *, deployment_name: str, deployment_id: Optional[str] = None, image: Optional[str] = None
    ) -> ModelVersion:
        """Record the Prefect deployment (``flow/deployment`` name and id) that runs this version,
        and the container ``image`` it runs in when given (None keeps the recorded one)."""
        values = {**validation.deployment(deployment_name, deployment_id, image), "deployed_at": _utcnow()}
        found = self._existing(name, version)
        self._set_version_tags(found, values)
        return self.get_version(name, version)

    def relocate_source(self, name: str, version: str, *, source: str, sha256: str) -> ModelVersion:
        """Point a version at the same code in a new place: only when ``sha256`` equals the one recorded."""
        source = validation.text("source", source, limit=None)
        found = self._existing(name, version)
        recorded = found.tags.get(PREFIX + "sha256")
        if recorded is None or recorded != sha256:
            raise InvalidValue("sha256", sha256, f"differs from {recorded}, recorded for {name} {version}: the code changed, so it cannot be relocated")
        self._set_version_tags(found, {"source": source})
        return self.get_version(name, version)

    def _existing(self, name: str, version: str) -> Any:
        self._check_name(name)
        parse_version(version, name)
        found = self._find(name, version)
        if found is None:
            self._require_model(name)
            raise VersionNotFound(name, version)
        return found

    def _set_version_tags(self, found: Any, values: dict[str, Optional[str]]) -> None:
        from mlflow.entities.model_registry import ModelVersionTag

        for key, value in values.items():
            if value is None:
                self._call("delete_model_version_tag", found.name, found.version, PREFIX + key)
            else:
                self._call("set_model_version_tag", found.name, found.version, ModelVersionTag(PREFIX + key, value))

    def _version(self, found: Any) -> ModelVersion:
        tags = found.tags or {}
        schema = tags.get(PREFIX + "parameters_schema")
        foreign = PREFIX + "version" not in tags
        source = tags.get(PREFIX + "source") or found.source
        if self.fetch_sources and tags.get(PREFIX + "source_archive") == SOURCE_ARCHIVE and not os.path.exists(source):
            source = str(self._fetched(found))  # on a worker or Slurm node: the uploaded copy
        deployed_at = tags.get(PREFIX + "deployed_at")
        return ModelVersion.model_construct(
            model=found.name,
            version=_our_version(found),
            source=source,
            entrypoint=FOREIGN_ENTRYPOINT if foreign else tags[PREFIX + "entrypoint"],
            sha256=tags.get(PREFIX + "sha256"),
            image=tags.get(PREFIX + "image"),
            parameters_schema=None if schema is None else json.loads(schema),
            registered_at=_ms(found.creation_timestamp),
            registered_by=tags.get(PREFIX + "registered_by") or found.user_id or "unknown",
            deployment_name=tags.get(PREFIX + "deployment_name"),
            deployment_id=tags.get(PREFIX + "deployment_id"),
            deployed_at=None if deployed_at is None else datetime.fromisoformat(deployed_at),
        )

    # ---- aliases -----------------------------------------------------------------

    def _our_alias(self, alias: str) -> str:
        return LIVE if alias == self.live_alias else alias

    def _their_alias(self, alias: str) -> str:
        return self.live_alias if alias == LIVE else alias

    def get_alias(self, name: str, alias: str) -> ModelVersion:
        """The version an alias points at (one request)."""
        from mlflow.exceptions import MlflowException

        self._check_name(name)
        try:
            found = self._call("get_model_version_by_alias", name, self._their_alias(alias))
        except MlflowException as exc:
            if _code(exc) not in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
                raise
            self._require_model(name)
            raise NoLiveVersion(name) if alias == LIVE else AliasNotFound(name, alias) from None
        return self._version(found)

    def live_version(self, name: str) -> ModelVersion:
        """The version the live alias points at (one request)."""
        return self.get_alias(name, LIVE)

    def set_alias(self, name: str, alias: str, version: str, *, by: Optional[str] = None) -> AliasChange:
        """Point ``alias`` at ``version``; the change is recorded in the history. Setting an alias
        to the version it already points at changes nothing and returns the change that set it."""
        self._check_name(name)
        _mlflow_alias(validation.alias_name(alias))
        parse_version(version, name)
        changed_by = validation.who(by)
        with self._lock(name):
            target = self._existing(name, version)
            current = self._alias_number(name, alias)
            if current == target.version:
                last = [h for h in self.history(name, alias)]
                if last:
                    return last[-1]
            return self._change_alias(name, alias, current, target, changed_by)

    def promote(self, name: str, version: str, *, by: Optional[str] = None) -> AliasChange:
        """Make ``version`` the live version."""
        return self.set_alias(name, LIVE, version, by=by)

    def remove_alias(self, name: str, alias: str, *, by: Optional[str] = None) -> AliasChange:
        """Remove an alias (recorded in the history; ``revert`` brings it back)."""
        self._check_name(name)
        changed_by = validation.who(by)
        with self._lock(name):
            current = self._alias_number(name, alias)
            if current is None:
                raise NoLiveVersion(name) if alias == LIVE else AliasNotFound(name, alias)
            return self._change_alias(name, alias, current, None, changed_by)

    def revert(self, name: str, alias: str = LIVE, *, by: Optional[str] = None) -> AliasChange:
        """Point the alias back at the version it pointed at before its last change (reverts
        undo changes one at a time, newest first, exactly as ``SQLRegistry.revert``)."""
        self._check_name(name)
        changed_by = validation.who(by)
        with self._lock(name):
            undone = change_to_undo(self.history(name, alias))
            if undone is None or undone.from_version is None:
                raise NothingToRevert(name, alias)
            target = self._existing(name, undone.from_version)
            current = self._alias_number(name, alias)
            return self._change_alias(name, alias, current, target, changed_by, reverted_id=undone.id)

    def _alias_number(self, name: str, alias: str) -> Optional[str]:
        found = self._get_registered(name)
        number = (found.aliases or {}).get(self._their_alias(alias))
        return None if number is None else str(number)

    def _change_alias(
        self, name: str, alias: str, current: Optional[str], target: Optional[Any], changed_by: str, reverted_id: Optional[int] = None,
    ) -> AliasChange:
        from mlflow.entities.model_registry import RegisteredModelTag

        their = self._their_alias(alias)
        before = None if current is None else _our_version(self._call("get_model_version", name, current))
        if target is None:
            self._call("delete_registered_model_alias", name, their)
        else:
            self._call("set_registered_model_alias", name, their, target.version)
        entries = self._history_entries(self._get_registered(name))
        change_id = (entries[-1].id if entries else 0) + 1
        change = AliasChange(
            id=change_id, model=name, alias=alias, from_version=before,
            to_version=None if target is None else _our_version(target), reverted_id=reverted_id,
            changed_at=datetime.now(timezone.utc), changed_by=changed_by,
        )
        record = {"alias": alias, "from": change.from_version, "to": change.to_version, "reverted": reverted_id,
                  "at": change.changed_at.isoformat(), "by": changed_by}
        self._call("set_registered_model_tag", name, RegisteredModelTag(f"{HISTORY}{change_id:06d}", json.dumps(record)))
        return change

    def history(self, name: str, alias: Optional[str] = None) -> list[AliasChange]:
        """Every alias change of a model (or of one alias), oldest first."""
        self._check_name(name)
        entries = self._history_entries(self._get_registered(name))
        return [e for e in entries if alias is None or e.alias == alias]

    def append_history(self, name: str, changes: list[AliasChange], reverted: list[Optional[int]]) -> list[AliasChange]:
        """Append alias changes made elsewhere (``registry copy``) with their who and when, and
        point each alias where its last change left it (as ``SQLRegistry.append_history``)."""
        from mlflow.entities.model_registry import RegisteredModelTag

        self._check_name(name)
        with self._lock(name):
            ids = [e.id for e in self._history_entries(self._get_registered(name))]
            numbers = {_our_version(v): v.version for v in self._mlflow_versions(name)}
            final: dict[str, Optional[str]] = {}
            for change, position in zip(changes, reverted):
                for version in (change.from_version, change.to_version):
                    if version is not None and version not in numbers:
                        raise VersionNotFound(name, version)
                change_id = (ids[-1] if ids else 0) + 1
                _mlflow_alias(validation.alias_name(change.alias))
                record = {"alias": change.alias, "from": change.from_version,
                          "to": change.to_version, "reverted": None if position is None else ids[position],
                          "at": change.changed_at.isoformat(), "by": validation.who(change.changed_by)}
                self._call("set_registered_model_tag", name, RegisteredModelTag(f"{HISTORY}{change_id:06d}", json.dumps(record)))
                ids.append(change_id)
                final[change.alias] = change.to_version
            current = self._get_registered(name).aliases or {}
            for alias, version in final.items():
                if version is None:
                    if self._their_alias(alias) in current:
                        self._call("delete_registered_model_alias", name, self._their_alias(alias))
                else:
                    self._call("set_registered_model_alias", name, self._their_alias(alias), numbers[version])
        return self.history(name)

    @staticmethod
    def _history_entries(found: Any) -> list[AliasChange]:
        entries = []
        for key, value in (found.tags or {}).items():
            if key.startswith(HISTORY):
                record = json.loads(value)
                entries.append(AliasChange(
                    id=int(key[len(HISTORY):]), model=found.name, alias=record["alias"], from_version=record["from"],
                    to_version=record["to"], reverted_id=record["reverted"], changed_at=record["at"], changed_by=record["by"],
                ))
        return sorted(entries, key=lambda e: e.id)

    @contextmanager
    def _lock(self, name: str) -> Iterator[None]:
        """Hold the model's alias lock (see the module docstring) for the block inside."""
        from mlflow.exceptions import MlflowException

        lock = name + LOCK_SUFFIX
        started = time.monotonic()
        wait = max(self.timeout * 3, 30.0)
        while True:
            try:
                self._call("create_registered_model", lock, description=f"lume-prefect: alias change of {name} in progress")
                break
            except MlflowException as exc:
                # "does not exist" too: the server's re-read after a refused insert raced a release
                if _code(exc) not in ("RESOURCE_ALREADY_EXISTS", "RESOURCE_DOES_NOT_EXIST"):
                    raise
            try:
                held = self._call("get_registered_model", lock)
                if time.time() - held.creation_timestamp / 1000 > LOCK_LEASE:
                    self._call("delete_registered_model", lock)  # its holder crashed
                    continue
            except MlflowException:
                continue  # released meanwhile
            if time.monotonic() - started > wait:
                raise RegistryBusy(name, round(time.monotonic() - started, 1))
            time.sleep(random.uniform(0.005, 0.03))
        try:
            yield
        finally:
            try:
                self._call("delete_registered_model", lock)
            except MlflowException:
                pass

    # ---- what the CLI shows ----------------------------------------------------------

    def schema_revision(self) -> tuple[Optional[str], str]:
        """(the server's MLflow version, the same): MLflow migrates its own database."""
        from mlflow.utils.request_utils import augmented_raise_for_status

        response = self._request("/version", "GET")
        augmented_raise_for_status(response)
        version = f"MLflow {response.text.strip()}"
        return version, version

    def upgrade(self, revision: str = "head") -> tuple[Optional[str], str]:
        """Nothing to migrate (the MLflow server migrates its own database)."""
        return self.schema_revision()


# ---- helpers --------------------------------------------------------------------


def _mlflow_alias(alias: str) -> str:
    from mlflow.exceptions import MlflowException
    from mlflow.utils import validation as mlflow_validation

    # MLflow's own checks (renamed in 3.18: _validate_alias_name, _validate_alias_name_reserved)
    checks = [
        getattr(mlflow_validation, "_validate_model_alias_name", None) or mlflow_validation._validate_alias_name,
        getattr(mlflow_validation, "_validate_model_alias_name_reserved", None) or mlflow_validation._validate_alias_name_reserved,
    ]
    try:
        for check in checks:
            check(alias)
    except MlflowException as exc:
        raise InvalidValue("alias", alias, f"MLflow refuses it: {exc.message}") from None
    return alias


def _user_tags(tags: Any) -> dict[str, str]:
    from mlflow.exceptions import MlflowException
    from mlflow.utils.validation import _validate_registered_model_tag

    tag_map = validation.tags(tags)
    for key, value in tag_map.items():
        if key.startswith(PREFIX):
            raise InvalidValue("tag key", key, f"the prefix {PREFIX!r} is lume-prefect's own")
        try:
            _validate_registered_model_tag(key, value)
        except MlflowException as exc:
            raise InvalidValue("tag key", key, f"MLflow refuses it: {exc.message}") from None
    return tag_map


def _our_version(found: Any) -> str:
    return (found.tags or {}).get(PREFIX + "version") or str(found.version)


def _sort_key(found: Any) -> str:
    return (found.tags or {}).get(PREFIX + "sort_key") or sort_key(str(found.version))


def _code(exc: Any) -> str:
    return getattr(exc, "error_code", "") or ""


def _is_connection_failure(exc: Any) -> bool:
    import requests

    cause = exc.__cause__ or exc.__context__
    return isinstance(cause, requests.exceptions.RequestException) or "Max retries exceeded" in str(exc)


def _archive(source: Path) -> bytes:
    """``source`` (a directory or one file) as a gzipped tar, without VCS and cache folders."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        if source.is_file():
            archive.add(source, arcname=source.name)
        else:
            for path in sorted(source.rglob("*")):
                relative = path.relative_to(source)
                if not path.is_file() or _SKIP.intersection(relative.parts):
                    continue
                archive.add(path, arcname=str(relative))
    return buffer.getvalue()


def _registry_store(creds: Any, owner: MLflowStore) -> Any:
    """MLflow's own REST client of the Model Registry, with ``owner``'s timeout and credentials."""
    import json as jsonlib

    from mlflow.store.model_registry.rest_store import RestStore
    from mlflow.utils.proto_json_utils import parse_dict
    from mlflow.utils.rest_utils import verify_rest_response

    class TimedRestStore(RestStore):
        def _call_endpoint(self, api, json_body, call_all_endpoints=False, extra_headers=None):  # type: ignore[no-untyped-def]
            response_proto = self._get_response_from_method(api)
            endpoint, method = self._get_endpoint_from_method(api)
            body = jsonlib.loads(json_body) if json_body is not None else None
            payload = {"params": body} if method == "GET" else {"json": body}
            response = owner._request(endpoint, method, extra_headers=extra_headers, raise_on_status=False, **payload)
            response = verify_rest_response(response, endpoint)
            if response.status_code != 204:
                parse_dict(js_dict=response.json(), message=response_proto)
            return response_proto

    return TimedRestStore(lambda: creds)


def _publish(staging: Path, target: Path) -> Path:
    """Mark the filled ``staging`` directory complete and move it to ``target``; when another
    process got there first, its copy is kept and this one removed."""
    import shutil

    (staging / ".complete").touch()
    try:
        staging.rename(target)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
    return target
