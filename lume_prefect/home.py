"""Where lume-prefect keeps its embedded defaults (SQLite databases, local files)."""

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
