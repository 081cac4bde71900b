"""Where lume-prefect keeps its embedded defaults: the registry and results SQLite files and
the local files of the ``local`` services, all under one directory."""

from __future__ import annotations

import os
from pathlib import Path


def data_dir() -> Path:
    """``$LUME_PREFECT_HOME``, else the user's data directory (e.g. ~/.local/share/lume-prefect)."""
    home = os.environ.get("LUME_PREFECT_HOME")
    if not home:
        import platformdirs

        home = platformdirs.user_data_dir("lume-prefect", appauthor=False)
    return Path(home).expanduser().resolve()


def sqlite_url(name: str) -> str:
    """``sqlite:///`` URL of the database file ``name`` inside ``data_dir()``."""
    return f"sqlite:///{data_dir() / name}"
