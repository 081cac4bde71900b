"""Floats that a JSON column gives back changed, and the tagged form they are stored in instead.

PostgreSQL's jsonb keeps a number as ``numeric``: ``1e16`` comes back as the integer
10000000000000000 (Python's ``repr`` writes floats from 1e16 up with an exponent, which jsonb
drops) and ``-0.0`` as ``0.0``. Such floats are stored as ``{"__lume__": "float", "value":
repr(x)}`` and read back as the same float, by the results store (``results/codec.py``) and
the registry (``parameters_schema``, wrapped by ``to_json_column`` when it holds one) alike;
every other finite float is a plain JSON number.
"""

from __future__ import annotations

import math
from typing import Any

TAG = "__lume__"
# Floats of smaller magnitude (other than -0.0) come back from every store as the same float.
PLAIN_FLOAT = 1e16


def stored_float(value: float) -> Any:
    """A finite float as stored: the float itself, or tagged when a store would change it."""
    if -PLAIN_FLOAT < value < PLAIN_FLOAT and (value or math.copysign(1.0, value) > 0):
        return value
    return {TAG: "float", "value": repr(value)}


def tag_floats(tree: Any) -> Any:
    """``tree`` (JSON: dicts, lists, str, numbers) with every float ``stored_float`` tags
    tagged; ``untag_floats`` is the inverse. The caller refuses ``TAG`` as a key of its own."""
    if isinstance(tree, float):
        return stored_float(tree) if math.isfinite(tree) else tree
    if isinstance(tree, dict):
        return {k: tag_floats(v) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return [tag_floats(v) for v in tree]
    return tree


def untag_floats(tree: Any) -> Any:
    """``tree`` as stored by ``tag_floats``, with its tagged floats floats again."""
    if type(tree) is dict:
        if tree.get(TAG) == "float":
            return float(tree["value"])
        return {k: untag_floats(v) for k, v in tree.items()}
    if type(tree) is list:
        return [untag_floats(v) for v in tree]
    return tree


def to_json_column(tree: Any) -> Any:
    """``tree`` as a JSON column should keep it: itself when no float needs a tag, else
    ``{TAG: "floats", "tree": tag_floats(tree)}``, so that reading most trees back costs one
    key lookup (``from_json_column``), not a walk of the whole tree."""
    tagged = tag_floats(tree)
    return tree if tagged == tree else {TAG: "floats", "tree": tagged}  # a tagged float is a dict: never equal


def from_json_column(stored: Any) -> Any:
    """The inverse of ``to_json_column``."""
    if type(stored) is dict and stored.get(TAG) == "floats":
        return untag_floats(stored["tree"])
    return stored


def tagged_texts(number: Any) -> tuple[str, ...]:
    """The ``value`` texts of the tagged floats equal to ``number`` (numbers match by value, as
    result keys do): ``("1e+16",)`` for 1e16 or 10**16, ``("-0.0",)`` for any zero, none for a
    number whose equal float is stored plain or that no float equals."""
    if isinstance(number, bool) or not isinstance(number, (int, float)):
        return ()
    try:
        as_float = float(number)
    except OverflowError:  # an int beyond any float
        return ()
    if as_float != number or not math.isfinite(as_float):
        return ()
    if as_float == 0:
        return ("-0.0",)
    stored = stored_float(as_float)
    return (stored["value"],) if type(stored) is dict else ()
