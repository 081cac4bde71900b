"""The model registry over a SQL database (SQLite, PostgreSQL, MariaDB). No Prefect here.

Reads are single SQLAlchemy Core statements (``live_version`` and ``latest_version`` are
one indexed query each); writes are one transaction each. Alias changes lock the model's
row first, so concurrent promotions queue and every change lands in the history with the
right "from".
"""

from __future__ import annotations

import functools
from typing import Any, Optional

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from lume_prefect.core.jsonfloats import TAG, from_json_column, to_json_column
from lume_prefect.core.paths import sqlite_url
from lume_prefect.core.retry import retry_methods, retrying
from lume_prefect.core.sql import sql_engine
from lume_prefect.registry import migrate, validation
from lume_prefect.registry.errors import (
    AliasNotFound,
    InvalidRegistryURL,
    InvalidValue,
    ModelExists,
    ModelNotFound,
    NoLiveVersion,
    NothingToRevert,
    NoVersions,
    UnknownFilter,
    VersionExists,
    VersionNotFound,
)
from lume_prefect.registry.records import LIVE, AliasChange, ModelVersion, RegisteredModel, change_to_undo
from lume_prefect.registry.schema import alias_history, aliases, models, tags, utcnow, versions
from lume_prefect.registry.versions import parse_version, sort_key

METADATA_FIELDS = validation.METADATA_FIELDS
FILTER_FIELDS = ("name", *METADATA_FIELDS, "tags")

_VERSION_COLUMNS = (
    models.c.name.label("model"),
    versions.c.version,
    versions.c.source,
    versions.c.entrypoint,
    versions.c.sha256,
    versions.c.image,
    versions.c.parameters_schema,
    versions.c.registered_at,
    versions.c.registered_by,
    versions.c.deployment_name,
    versions.c.deployment_id,
    versions.c.deployed_at,
)
_MODEL_COLUMNS = (models.c.id, models.c.name, *(models.c[f] for f in METADATA_FIELDS), models.c.description, models.c.created_at)
_VERSIONS_OF = sa.select(*_VERSION_COLUMNS).select_from(versions.join(models, models.c.id == versions.c.model_id))
# The two hot paths, built once so SQLAlchemy's compiled cache always hits.
# The model id as a scalar subquery makes model_id a constant, so the database walks the
# (model_id, sort_key) index backwards and stops at the first row, however many versions.
_NAMED = models.alias("named")
_MODEL_ID = sa.select(_NAMED.c.id).where(_NAMED.c.name == sa.bindparam("name")).scalar_subquery()
_LATEST = _VERSIONS_OF.where(versions.c.model_id == _MODEL_ID).order_by(versions.c.sort_key.desc()).limit(1)
_BY_ALIAS = (
    sa.select(*_VERSION_COLUMNS)
    .select_from(
        models.join(aliases, aliases.c.model_id == models.c.id).join(versions, versions.c.id == aliases.c.version_id)
    )
    .where(models.c.name == sa.bindparam("name"), aliases.c.alias == sa.bindparam("alias"))
)


def _version(row: sa.Row[Any]) -> ModelVersion:
    # Rows come from our own columns with our own types: no need to validate them again
    # (validation would double the cost of the hot lookups).
    fields = row._mapping
    schema = fields["parameters_schema"]
    if schema is None or TAG not in schema:  # a schema with floats stored tagged is wrapped (core/jsonfloats.py)
        return ModelVersion.model_construct(**fields)
    return ModelVersion.model_construct(**{**fields, "parameters_schema": from_json_column(schema)})


@functools.lru_cache(maxsize=64)  # a block method call must not pay for parsing its URL again
def checked_url(url: str | sa.URL) -> str | sa.URL:
    """``url`` if it parses as a database URL, else InvalidRegistryURL saying why. (A SQLite
    file's directory must exist: ``core.sql`` checks that for every store, when it makes the engine.)"""
    import re

    from sqlalchemy.exc import ArgumentError

    try:
        parsed = sa.make_url(url)
        parsed.port  # noqa: B018 - parsing the port is what raises for "host:notaport"
    except (ArgumentError, ValueError) as exc:
        shown = re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", str(url))  # no password, even unparsed
        reason = "the port must be a number" if "int()" in str(exc) else "not a SQLAlchemy database URL (e.g. sqlite:////path/registry.db)"
        raise InvalidRegistryURL(shown, reason) from None
    return url


class SQLRegistry:
    """Models, versions, aliases and their history in one SQL database.

    ``url`` is a SQLAlchemy URL (default: a SQLite file in the user's data dir). The schema
    is checked on first use: a fresh database is initialised, an older one must be
    upgraded (``upgrade()`` or ``lume-prefect registry upgrade``).
    """

    def __init__(self, url: str | sa.URL | None = None):
        self._entry = sql_engine(checked_url(url) if url else sqlite_url("registry.db"))

    @property
    def engine(self) -> sa.Engine:
        return self._entry.engine

    @property
    def label(self) -> str:
        """The database URL with the password masked."""
        return self._entry.label

    # ---- schema --------------------------------------------------------------

    def _ready(self) -> None:
        entry = self._entry
        if migrate.VERSION_TABLE not in entry.checked:
            entry.ensure(migrate.MIGRATIONS, lambda e: migrate.check_schema(e.writer, e.label))

    def upgrade(self, revision: str = "head") -> tuple[Optional[str], str]:
        """Migrate the database to the latest schema (or ``revision``); returns (before, after)."""
        result = migrate.upgrade(self._entry.writer, revision)
        if result[1] == migrate.head_revision():
            self._entry.checked.add(migrate.VERSION_TABLE)
        else:
            self._entry.checked.discard(migrate.VERSION_TABLE)
        return result

    def schema_revision(self) -> tuple[Optional[str], str]:
        """(revision of the database or None if it has no registry yet, latest revision shipped)."""
        with self.engine.connect() as conn:
            return migrate.current_revision(conn), migrate.head_revision()

    def _read(self, snapshot: bool = False) -> sa.Connection:
        """A connection for reading; ``snapshot`` when several statements must see one state."""
        self._ready()
        return (self._entry.engine if snapshot else self._entry.reader).connect()

    def _write(self):  # type: ignore[no-untyped-def]
        self._ready()
        return self._entry.writer.begin()

    # ---- models ----------------------------------------------------------------

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
        row = {"name": validation.model_name(name), **validation.model_metadata(author, laboratory, facility, beampath, description)}
        tag_map = validation.tags(tags)
        if exist_ok and self._model_id_or_none(name) is not None:
            return self.get_model(name)
        try:
            with self._write() as conn:
                model_id = conn.execute(sa.insert(models).values(**row, created_at=utcnow())).inserted_primary_key[0]
                self._insert_tags(conn, model_id, tag_map)
        except IntegrityError:
            if self._model_id_or_none(name) is None:
                raise
            if not exist_ok and not retrying():  # on a retry: our own write, committed before the drop
                raise ModelExists(name) from None
        return self.get_model(name)

    def update_model(self, name: str, /, **changes: Any) -> RegisteredModel:
        """Change a model's metadata (author, laboratory, facility, beampath, description) or
        replace its ``tags``."""
        validation.model_name(name)
        allowed = (*METADATA_FIELDS, "description", "tags")
        values = {}
        for field, value in changes.items():
            if field not in allowed:
                raise validation.InvalidValue("model field", field, f"fields that can change: {', '.join(allowed)}")
            if field == "description":
                values[field] = validation.text(field, value, required=False, limit=None)
            elif field != "tags":
                values[field] = validation.text(field, value)
        new_tags = validation.tags(changes["tags"]) if "tags" in changes else None
        with self._write() as conn:
            model_id = self._lock_model(conn, name)
            if values:
                conn.execute(sa.update(models).where(models.c.id == model_id).values(**values))
            if new_tags is not None:
                conn.execute(sa.delete(tags).where(tags.c.model_id == model_id))
                self._insert_tags(conn, model_id, new_tags)
        return self.get_model(name)

    @staticmethod
    def _insert_tags(conn: sa.Connection, model_id: int, tag_map: dict[str, str]) -> None:
        if tag_map:
            conn.execute(sa.insert(tags), [{"model_id": model_id, "tag": k, "value": v} for k, v in tag_map.items()])

    def get_model(self, name: str) -> RegisteredModel:
        """The model called ``name`` with its metadata, tags and aliases."""
        found = self._models(sa.select(*_MODEL_COLUMNS).where(models.c.name == validation.model_name(name)))
        if not found:
            raise ModelNotFound(name)
        return found[0]

    def list_models(self, **filters: Any) -> list[RegisteredModel]:
        """Models matching every filter, by name. Filters: ``name``, ``author``, ``laboratory``,
        ``facility``, ``beampath`` (exact values) and ``tags`` (a dict; a value of None
        matches any value of that key)."""
        query = sa.select(*_MODEL_COLUMNS)
        for field, value in filters.items():
            if field not in FILTER_FIELDS:
                raise UnknownFilter(field, list(FILTER_FIELDS))
            if field == "tags":
                if not isinstance(value, dict):
                    raise validation.InvalidValue("tags filter", value, "must be a dict of key -> value (or None)")
                for key, tag_value in value.items():
                    match = sa.and_(tags.c.model_id == models.c.id, tags.c.tag == key)
                    if tag_value is not None:
                        match = sa.and_(match, tags.c.value == str(tag_value))
                    query = query.where(sa.exists().where(match))
            else:
                query = query.where(models.c[field] == validation.text(f"{field} filter", value, required=False))
        return self._models(query.order_by(models.c.name))

    def _models(self, query: sa.Select[Any]) -> list[RegisteredModel]:
        with self._read(snapshot=True) as conn:
            rows = conn.execute(query).all()
            if not rows:
                return []
            matching = sa.select(query.subquery().c.id)
            tag_rows = conn.execute(sa.select(tags).where(tags.c.model_id.in_(matching))).all()
            alias_rows = conn.execute(
                sa.select(aliases.c.model_id, aliases.c.alias, versions.c.version)
                .join(versions, versions.c.id == aliases.c.version_id)
                .where(aliases.c.model_id.in_(matching))
            ).all()
        tag_maps: dict[int, dict[str, str]] = {}
        for t in tag_rows:
            tag_maps.setdefault(t.model_id, {})[t.tag] = t.value
        alias_maps: dict[int, dict[str, str]] = {}
        for a in alias_rows:
            alias_maps.setdefault(a.model_id, {})[a.alias] = a.version
        return [
            RegisteredModel(
                **{k: v for k, v in row._mapping.items() if k != "id"},
                tags=dict(sorted(tag_maps.get(row.id, {}).items())),
                aliases=dict(sorted(alias_maps.get(row.id, {}).items())),
            )
            for row in rows
        ]

    def _model_id_or_none(self, name: str) -> Optional[int]:
        with self._read() as conn:
            return conn.execute(sa.select(models.c.id).where(models.c.name == name)).scalar()

    @staticmethod
    def _lock_model(conn: sa.Connection, name: str) -> int:
        """The model's id, its row locked until the transaction ends (SQLite: the write lock is held already)."""
        model_id = conn.execute(sa.select(models.c.id).where(models.c.name == name).with_for_update()).scalar()
        if model_id is None:
            raise ModelNotFound(name)
        return model_id

    # ---- versions --------------------------------------------------------------

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
        """Record a new version of a registered model. ``by`` defaults to the OS user."""
        row = validation.version_fields(name, version, source, entrypoint, sha256, image, parameters_schema, by)
        # floats a JSON column would change (1e16 and up, -0.0) are stored tagged (core/jsonfloats.py)
        row["parameters_schema"] = to_json_column(row["parameters_schema"])
        try:
            with self._write() as conn:
                model_id = conn.execute(sa.select(models.c.id).where(models.c.name == name)).scalar()
                if model_id is None:
                    raise ModelNotFound(name)
                conn.execute(sa.insert(versions).values(**row, model_id=model_id, registered_at=utcnow()))
        except IntegrityError:
            existing = self._version_or_none(name, row["sort_key"])
            if existing is None:
                raise
            if retrying() and all(getattr(existing, k) == row[k] for k in ("source", "entrypoint", "sha256", "image", "registered_by")):
                return existing  # our own write, committed before the connection dropped
            raise VersionExists(name, version, existing.version) from None
        return self.get_version(name, row["version"])

    def _version_or_none(self, name: str, key: str) -> Optional[ModelVersion]:
        with self._read() as conn:
            row = conn.execute(_VERSIONS_OF.where(models.c.name == name, versions.c.sort_key == key)).first()
        return None if row is None else _version(row)

    def get_version(self, name: str, version: str) -> ModelVersion:
        """One version of a model; ``1.0`` finds ``1.0.0`` (PEP 440 equality)."""
        validation.model_name(name)
        found = self._version_or_none(name, sort_key(parse_version(version, name)))
        if found is None:
            self._require_model(name)
            raise VersionNotFound(name, version)
        return found

    def list_versions(self, name: str) -> list[ModelVersion]:
        """All versions of a model, newest first in PEP 440 order (1.10 above 1.9)."""
        validation.model_name(name)
        with self._read() as conn:
            rows = conn.execute(_VERSIONS_OF.where(models.c.name == name).order_by(versions.c.sort_key.desc())).all()
        if not rows:
            self._require_model(name)
        return [_version(row) for row in rows]

    def latest_version(self, name: str) -> ModelVersion:
        """The highest version of a model in PEP 440 order (one indexed query)."""
        validation.model_name(name)
        with self._read() as conn:
            row = conn.execute(_LATEST, {"name": name}).first()
        if row is None:
            self._require_model(name)
            raise NoVersions(name)
        return _version(row)

    def set_deployment(
        self, name: str, version: str, *, deployment_name: str, deployment_id: Optional[str] = None, image: Optional[str] = None
    ) -> ModelVersion:
        """Record the Prefect deployment (``flow/deployment`` name and id) that runs this version,
        and the container ``image`` it runs in when given (None keeps the recorded one)."""
        validation.model_name(name)
        key = sort_key(parse_version(version, name))
        values = {**validation.deployment(deployment_name, deployment_id, image), "deployed_at": utcnow()}
        with self._write() as conn:
            model_id = self._lock_model(conn, name)
            done = conn.execute(
                sa.update(versions).where(versions.c.model_id == model_id, versions.c.sort_key == key).values(**values)
            )
            if done.rowcount == 0:
                raise VersionNotFound(name, version)
        return self.get_version(name, version)

    def relocate_source(self, name: str, version: str, *, source: str, sha256: str) -> ModelVersion:
        """Point a version at the same code in a new place (a moved checkout): allowed only when
        ``sha256`` equals the one recorded, so the version's code cannot change."""
        validation.model_name(name)
        key = sort_key(parse_version(version, name))
        source = validation.text("source", source, limit=None)
        with self._write() as conn:
            model_id = self._lock_model(conn, name)
            done = conn.execute(
                sa.update(versions)
                .where(versions.c.model_id == model_id, versions.c.sort_key == key, versions.c.sha256 == sha256)
                .values(source=source)
            )
            if done.rowcount == 0:
                current = self.get_version(name, version)  # VersionNotFound if there is none
                raise InvalidValue("sha256", sha256, f"differs from {current.sha256}, recorded for {name} {version}: the code changed, so it cannot be relocated")
        return self.get_version(name, version)

    def _require_model(self, name: str) -> None:
        if self._model_id_or_none(name) is None:
            raise ModelNotFound(name)

    # ---- aliases -------------------------------------------------------------

    def get_alias(self, name: str, alias: str) -> ModelVersion:
        """The version an alias points at."""
        validation.model_name(name)
        with self._read() as conn:
            row = conn.execute(_BY_ALIAS, {"name": name, "alias": alias}).first()
        if row is None:
            self._require_model(name)
            raise NoLiveVersion(name) if alias == LIVE else AliasNotFound(name, alias)
        return _version(row)

    def live_version(self, name: str) -> ModelVersion:
        """The version the ``live`` alias points at (one indexed query)."""
        return self.get_alias(name, LIVE)

    def set_alias(self, name: str, alias: str, version: str, *, by: Optional[str] = None) -> AliasChange:
        """Point ``alias`` at ``version``; the change is recorded in the history.

        Setting an alias to the version it already points at changes nothing and returns
        the change that set it.
        """
        validation.model_name(name)
        validation.alias_name(alias)
        key = sort_key(parse_version(version, name))
        changed_by = validation.who(by)
        with self._write() as conn:
            model_id = self._lock_model(conn, name)
            target = conn.execute(
                sa.select(versions.c.id, versions.c.version).where(versions.c.model_id == model_id, versions.c.sort_key == key)
            ).first()
            if target is None:
                raise VersionNotFound(name, version)
            current = self._alias_target(conn, model_id, alias)
            if current is not None and current.id == target.id:
                last = self._history(conn, name, alias, newest_only=True)
                if last:
                    return last[0]
            return self._change_alias(conn, model_id, name, alias, current, target, changed_by)

    def promote(self, name: str, version: str, *, by: Optional[str] = None) -> AliasChange:
        """Make ``version`` the live version (the ``live`` alias)."""
        return self.set_alias(name, LIVE, version, by=by)

    def remove_alias(self, name: str, alias: str, *, by: Optional[str] = None) -> AliasChange:
        """Remove an alias (recorded in the history; ``revert`` brings it back)."""
        validation.model_name(name)
        changed_by = validation.who(by)
        with self._write() as conn:
            model_id = self._lock_model(conn, name)
            current = self._alias_target(conn, model_id, alias)
            if current is None:
                raise NoLiveVersion(name) if alias == LIVE else AliasNotFound(name, alias)
            return self._change_alias(conn, model_id, name, alias, current, None, changed_by)

    def revert(self, name: str, alias: str = LIVE, *, by: Optional[str] = None) -> AliasChange:
        """Point the alias back at the version it pointed at before its last change.

        Reverts undo changes one at a time, newest first: after promoting 1, 2 and 3,
        revert goes to 2, a second revert to 1, a third raises ``NothingToRevert``.
        """
        validation.model_name(name)
        changed_by = validation.who(by)
        with self._write() as conn:
            model_id = self._lock_model(conn, name)
            rows = conn.execute(
                sa.select(alias_history.c.id, alias_history.c.from_version_id, alias_history.c.reverted_id)
                .where(alias_history.c.model_id == model_id, alias_history.c.alias == alias)
                .order_by(alias_history.c.id)
            ).all()
            undone = change_to_undo(rows)
            if undone is None or undone.from_version_id is None:
                raise NothingToRevert(name, alias)
            target = conn.execute(
                sa.select(versions.c.id, versions.c.version).where(versions.c.id == undone.from_version_id)
            ).one()
            current = self._alias_target(conn, model_id, alias)
            return self._change_alias(conn, model_id, name, alias, current, target, changed_by, reverted_id=undone.id)

    @staticmethod
    def _alias_target(conn: sa.Connection, model_id: int, alias: str) -> Optional[sa.Row[Any]]:
        return conn.execute(
            sa.select(versions.c.id, versions.c.version)
            .join(aliases, aliases.c.version_id == versions.c.id)
            .where(aliases.c.model_id == model_id, aliases.c.alias == alias)
        ).first()

    @staticmethod
    def _change_alias(
        conn: sa.Connection,
        model_id: int,
        name: str,
        alias: str,
        current: Optional[sa.Row[Any]],
        target: Optional[sa.Row[Any]],
        changed_by: str,
        reverted_id: Optional[int] = None,
    ) -> AliasChange:
        where = sa.and_(aliases.c.model_id == model_id, aliases.c.alias == alias)
        if target is None:
            conn.execute(sa.delete(aliases).where(where))
        elif current is None:
            conn.execute(sa.insert(aliases).values(model_id=model_id, alias=alias, version_id=target.id))
        else:
            conn.execute(sa.update(aliases).where(where).values(version_id=target.id))
        change = {
            "model_id": model_id,
            "alias": alias,
            "from_version_id": None if current is None else current.id,
            "to_version_id": None if target is None else target.id,
            "reverted_id": reverted_id,
            "changed_at": utcnow(),
            "changed_by": changed_by,
        }
        change_id = conn.execute(sa.insert(alias_history).values(**change)).inserted_primary_key[0]
        return AliasChange(
            id=change_id,
            model=name,
            alias=alias,
            from_version=None if current is None else current.version,
            to_version=None if target is None else target.version,
            reverted_id=reverted_id,
            changed_at=change["changed_at"],
            changed_by=changed_by,
        )

    def append_history(self, name: str, changes: list[AliasChange], reverted: list[Optional[int]]) -> list[AliasChange]:
        """Append alias changes made elsewhere (``registry copy``) with their who and when, and
        point each alias where its last change left it. ``reverted[i]`` is the position, in
        this model's whole history, of the change that ``changes[i]`` undid (None: not a revert)."""
        validation.model_name(name)
        with self._write() as conn:
            model_id = self._lock_model(conn, name)
            ids = list(conn.execute(
                sa.select(alias_history.c.id).where(alias_history.c.model_id == model_id).order_by(alias_history.c.id)
            ).scalars())
            version_ids = {
                row.version: row.id
                for row in conn.execute(sa.select(versions.c.version, versions.c.id).where(versions.c.model_id == model_id))
            }
            for change, position in zip(changes, reverted):
                for version in (change.from_version, change.to_version):
                    if version is not None and version not in version_ids:
                        raise VersionNotFound(name, version)
                row = {
                    "model_id": model_id, "alias": validation.alias_name(change.alias),
                    "from_version_id": version_ids.get(change.from_version), "to_version_id": version_ids.get(change.to_version),
                    "reverted_id": None if position is None else ids[position],
                    "changed_at": change.changed_at, "changed_by": validation.who(change.changed_by),
                }
                ids.append(conn.execute(sa.insert(alias_history).values(**row)).inserted_primary_key[0])
                where = sa.and_(aliases.c.model_id == model_id, aliases.c.alias == change.alias)
                conn.execute(sa.delete(aliases).where(where))
                if change.to_version is not None:
                    conn.execute(sa.insert(aliases).values(model_id=model_id, alias=change.alias, version_id=version_ids[change.to_version]))
        return self.history(name)

    def history(self, name: str, alias: Optional[str] = None) -> list[AliasChange]:
        """Every alias change of a model (or of one alias), oldest first."""
        validation.model_name(name)
        with self._read() as conn:
            changes = self._history(conn, name, alias)
        if not changes:
            self._require_model(name)
        return changes

    @staticmethod
    def _history(conn: sa.Connection, name: str, alias: Optional[str], newest_only: bool = False) -> list[AliasChange]:
        before = versions.alias("from_version")
        after = versions.alias("to_version")
        query = (
            sa.select(
                alias_history.c.id,
                models.c.name.label("model"),
                alias_history.c.alias,
                before.c.version.label("from_version"),
                after.c.version.label("to_version"),
                alias_history.c.reverted_id,
                alias_history.c.changed_at,
                alias_history.c.changed_by,
            )
            .select_from(alias_history)
            .join(models, models.c.id == alias_history.c.model_id)
            .outerjoin(before, before.c.id == alias_history.c.from_version_id)
            .outerjoin(after, after.c.id == alias_history.c.to_version_id)
            .where(models.c.name == name)
        )
        if alias is not None:
            query = query.where(alias_history.c.alias == alias)
        if newest_only:
            query = query.order_by(alias_history.c.id.desc()).limit(1)
        else:
            query = query.order_by(alias_history.c.id)
        return [AliasChange.model_validate(row._mapping) for row in conn.execute(query)]



# A short outage (a server restart) is retried, never seen by the caller (see core/retry.py).
retry_methods(
    SQLRegistry,
    (
        "register_model", "update_model", "get_model", "list_models", "register_version", "get_version",
        "list_versions", "latest_version", "set_deployment", "get_alias", "set_alias", "remove_alias",
        "revert", "history", "append_history", "schema_revision", "upgrade",
    ),
)
