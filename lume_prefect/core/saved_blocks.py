"""Saved blocks without a server: read from the database of Prefect's ephemeral mode.

With no ``PREFECT_API_URL``, Prefect's client starts a temporary server for every command (a
subprocess that imports the whole server and migrates its database: 5-30 s), on the database
of ``server.database.connection_url``: by default the SQLite file ``$PREFECT_HOME/prefect.db``.
Reading a saved block needs none of that: its document is a row of that file, its nested
blocks rows of ``block_document_reference``, their data JSON encrypted with the Fernet key
the server keeps in its ``configuration`` table (or ``PREFECT_SERVER_ENCRYPTION_KEY``).
``load_saved`` reads them as Prefect's server does, read-only, in milliseconds.

It answers the block, or None when no such block is saved (no database file yet, or no such
row) -- or ``UNKNOWN`` when it cannot tell (an API is configured, the database is not a SQLite
file, or its layout is not the one understood here): then the caller asks the API as before.

``load_document`` answers the same without the block class, as the saved data (nested blocks'
data in place, each with its type's slug): what builds a store without importing Prefect
(``lume_prefect.stores``). Prefect's settings, which say whether an API is configured and where
the database is, are read without importing Prefect too when they come only from the
environment and the profiles file (``_settings_without_prefect``); importing Prefect costs
1-2 s of CPU, more than the rest of a store-only command.
"""

from __future__ import annotations

import json
import os
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any, Final, Optional
from uuid import UUID

UNKNOWN: Final = type("Unknown", (), {"__repr__": lambda self: "UNKNOWN", "__bool__": lambda self: False})()
_MAX_DEPTH = 50  # Prefect's own bound on nested block documents


# where a setting may come from that is read here only by Prefect itself
_TEST_MODE = ("PREFECT_TEST_MODE", "PREFECT_UNIT_TEST_MODE", "PREFECT_TESTING_UNIT_TEST_MODE", "PREFECT_TESTING_TEST_MODE")
_DATABASE_PARTS = tuple(f"PREFECT_{area}_DATABASE_{part}" for area in ("SERVER", "API")
                        for part in ("DRIVER", "HOST", "PORT", "USER", "NAME", "PASSWORD"))
_DATABASE_URL = ("PREFECT_SERVER_DATABASE_CONNECTION_URL", "PREFECT_API_DATABASE_CONNECTION_URL")


def _settings_without_prefect() -> Optional[tuple[Optional[str], Path, str]]:
    """(API URL, home, database connection URL) as Prefect's settings give them, read without
    importing Prefect -- or None when that cannot be told for sure here, and Prefect must say.

    Prefect's order is kept: the environment over the active profile (``PREFECT_PROFILE``,
    else the file's ``active``) of the profiles file (``PREFECT_PROFILES_PATH``, else
    ``$PREFECT_HOME/profiles.toml``, else Prefect's own, which sets none of these). Unsure
    (None): a ``.env`` naming a Prefect setting, a ``prefect.toml`` or a ``pyproject.toml``
    ``[tool.prefect]`` in the working directory, test mode, templated values, a database
    given by its parts, or a profile moving the home.
    """
    import tomllib

    env = os.environ
    if any(env.get(name) for name in _TEST_MODE) or Path("prefect.toml").exists():
        return None
    for path, says_prefect in ((".env", lambda text: "PREFECT_" in text), ("pyproject.toml", lambda text: "prefect" in tomllib.loads(text).get("tool", {}))):
        try:
            if says_prefect(Path(path).read_text(encoding="utf-8")):
                return None
        except FileNotFoundError:
            continue
        except (OSError, ValueError):
            return None
    home = Path(env.get("PREFECT_HOME") or Path.home() / ".prefect").expanduser()
    profiles = Path(env.get("PREFECT_PROFILES_PATH") or home / "profiles.toml").expanduser()
    profile: Any = {}
    if profiles.exists():
        try:
            stored = tomllib.loads(profiles.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        profile = stored.get("profiles", {}).get(env.get("PREFECT_PROFILE") or stored.get("active"), {})
    if not isinstance(profile, dict) or "PREFECT_HOME" in profile:
        return None
    settings = {str(k).upper(): str(v) for k, v in profile.items()} | {k: v for k, v in env.items() if k.startswith("PREFECT_")}
    urls = {settings[name] for name in _DATABASE_URL if name in settings}
    api = settings.get("PREFECT_API_URL") or None
    if any(name in settings for name in _DATABASE_PARTS) or len(urls) > 1 or "$" in f"{api}{urls}{profiles}":
        return None
    return api, home, (urls.pop() if urls else f"sqlite+aiosqlite:///{home}/prefect.db")


def ephemeral_database() -> Optional[Path]:
    """The SQLite file a temporary Prefect server would use; None when no temporary server would
    start (an API is configured) or its database is not a SQLite file."""
    known = _settings_without_prefect()
    if known is None:
        from prefect.settings import get_current_settings

        settings = get_current_settings()
        configured = settings.server.database.connection_url
        known = settings.api.url, settings.home, configured.get_secret_value() if configured is not None else None
    api, home, configured_url = known
    if api:
        return None
    url = configured_url or f"sqlite+aiosqlite:///{home}/prefect.db"  # what Prefect's server defaults to
    scheme, sep, rest = url.partition(":///")
    if not sep or not scheme.startswith("sqlite") or not rest or rest.startswith(("file:", ":memory:")) or "?" in rest:
        return None
    return Path(rest).expanduser()


def load_document(slug: str, name: str) -> Any:
    """The saved block document ``slug/name`` as (id, data, references): its data with the
    nested documents' data in place, and the references naming each nested document (its
    id, name and ``block_type`` slug) -- or None, or UNKNOWN (see the module docstring)."""
    database = ephemeral_database()
    if database is None:
        return UNKNOWN
    if not database.exists():
        return None
    try:
        return _read(database, slug, name)
    except (sqlite3.Error, ValueError, KeyError, TypeError, ImportError):
        return UNKNOWN  # a database being created or migrated, a key we cannot read: ask the API


def load_saved(cls: type, name: str) -> Any:
    """The block of class ``cls`` saved as ``name`` (see the module docstring): the block, None, or UNKNOWN."""
    data = load_document(cls.get_block_type_slug(), name)
    if not data:
        return data
    document_id, values, references = data
    block = cls.model_validate(values)
    block._block_document_id = UUID(document_id)
    block._block_document_name = name
    block._is_anonymous = False
    block._define_metadata_on_nested_blocks(references)  # the nested blocks' ids and names, as Prefect's load sets them
    return block


def _read(database: Path, slug: str, name: str) -> Optional[tuple[str, dict[str, Any], dict[str, Any]]]:
    with closing(sqlite3.connect(f"{database.resolve().as_uri()}?mode=ro", uri=True, timeout=10)) as db:
        row = db.execute(
            "SELECT d.id, d.data FROM block_document AS d JOIN block_type AS t ON t.id = d.block_type_id"
            " WHERE t.slug = ? AND d.name = ?",
            (slug, name),
        ).fetchone()
        if row is None:
            return None
        fernet = _fernet(db)
        return row[0], *_document(db, fernet, row[0], row[1], 0)


def _fernet(db: sqlite3.Connection) -> Any:
    from cryptography.fernet import Fernet

    key = os.environ.get("PREFECT_SERVER_ENCRYPTION_KEY") or os.environ.get("ORION_ENCRYPTION_KEY")
    if not key:
        row = db.execute("SELECT value FROM configuration WHERE key = ?", ("ENCRYPTION_KEY",)).fetchone()
        if row is None:
            raise KeyError("ENCRYPTION_KEY")
        key = json.loads(row[0])["fernet_key"]
    return Fernet(key.encode())


def _document(db: sqlite3.Connection, fernet: Any, document_id: str, stored: Any, depth: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """The document's data with its nested documents' data in place, and its references (the
    nested documents' ids and names), as the server returns them."""
    from cryptography.fernet import InvalidToken

    if depth > _MAX_DEPTH:
        raise ValueError("block document references nested too deep")
    token = json.loads(stored)
    try:
        data = json.loads(fernet.decrypt(token.encode()))
    except InvalidToken:
        raise ValueError("block document data cannot be decrypted with this server's key") from None
    references: dict[str, Any] = {}
    for field, child_id, child_name, anonymous, child_data, slug in db.execute(
        "SELECT r.name, d.id, d.name, d.is_anonymous, d.data, t.slug FROM block_document_reference AS r"
        " JOIN block_document AS d ON d.id = r.reference_block_document_id JOIN block_type AS t ON t.id = d.block_type_id"
        " WHERE r.parent_block_document_id = ?",
        (document_id,),
    ).fetchall():
        data[field], nested = _document(db, fernet, child_id, child_data, depth + 1)
        references[field] = {"block_document": {
            "id": child_id, "name": child_name, "is_anonymous": bool(anonymous), "block_document_references": nested,
            "block_type": {"slug": slug},
        }}
    return data, references
