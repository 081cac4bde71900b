"""Options every command shares, one name each: ``--services`` picks the environment (a saved
``LumeServices`` block) wherever a command uses a service, ``--json`` prints JSON."""

from __future__ import annotations

from typing import Annotated, Optional

from cyclopts import Parameter

Services = Annotated[
    Optional[str],
    Parameter(name="--services", help="Saved LumeServices block (default: $LUME_SERVICES, else 'local')."),
]
Json = Annotated[bool, Parameter(name="--json", negative="", help="Print JSON instead of a table.")]

