"""PEP 440 versions and the sortable key that lets the database order them.

``sort_key("1.10")`` is a string of digits whose plain string order is PEP 440 order
(``1.9 < 1.10``, ``1.0rc1 < 1.0 < 1.0.post1``, ``1.0 == 1.0.0``), so "the latest version" is
one indexed ``ORDER BY sort_key DESC LIMIT 1`` on every backend. Digits only, because
database collations (glibc locales in PostgreSQL, ``*_ci`` in MariaDB) ignore or fold
punctuation and letters but order digits identically everywhere.

Each part of ``packaging.version.Version._key`` maps to a prefix-free, order-preserving
digit string: a number ``n`` is ``len(str(n))`` in two digits then ``n``; sequences end
with a marker smaller than any element; "absent" is a marker below or above every value,
exactly where PEP 440 puts it.
"""

from __future__ import annotations

from packaging.version import InvalidVersion as _PackagingInvalidVersion
from packaging.version import Version

from lume_prefect.registry.errors import InvalidVersion

MAX_VERSION_LENGTH = 64
SORT_KEY_LENGTH = 255
_PRE_LETTERS = {"a": "1", "b": "2", "rc": "3"}


def parse_version(version: object, model: str | None = None) -> Version:
    """The ``packaging`` Version of ``version``, or InvalidVersion naming it (and the model)."""
    if not isinstance(version, str) or not version.strip():
        raise InvalidVersion(version, model, reason="a version must be a non-empty string")
    if len(version) > MAX_VERSION_LENGTH:
        raise InvalidVersion(version, model, reason=f"longer than {MAX_VERSION_LENGTH} characters")
    try:
        return Version(version)
    except _PackagingInvalidVersion:
        raise InvalidVersion(version, model) from None


def normalize_version(version: object, model: str | None = None) -> str:
    """The PEP 440 normal form (``1.0-RC1`` -> ``1.0rc1``), or InvalidVersion."""
    return str(parse_version(version, model))


def _number(n: int) -> str:
    digits = str(n)
    if len(digits) > 99:
        raise InvalidVersion(str(n), reason="a version number has more than 99 digits")
    return f"{len(digits):02d}{digits}"


def _release(release: tuple[int, ...]) -> str:
    parts = list(release)
    while parts and parts[-1] == 0:  # 1.0 == 1.0.0
        parts.pop()
    return "".join(_number(n) for n in parts) + "00"


def _text(segment: str) -> str:
    # local segments are [a-z0-9]; two digits per character, "00" ends the segment
    return "".join(f"{10 + int(c)}" if c.isdigit() else f"{20 + ord(c) - ord('a')}" for c in segment) + "00"


def sort_key(version: str | Version) -> str:
    """A digit string whose string order is the PEP 440 order of versions."""
    v = version if isinstance(version, Version) else parse_version(version)
    if v.pre is not None:
        pre = "1" + _PRE_LETTERS[v.pre[0]] + _number(v.pre[1])
    elif v.post is None and v.dev is not None:
        pre = "0"  # 1.0.dev0 sorts before 1.0a0
    else:
        pre = "2"
    post = "0" if v.post is None else "1" + _number(v.post)
    dev = "2" if v.dev is None else "1" + _number(v.dev)
    if v.local is None:
        local = "0"
    else:
        # numeric local segments sort above alphanumeric ones (PEP 440)
        segments = [("2" + _number(int(s))) if s.isdigit() else ("1" + _text(s)) for s in v.local.split(".")]
        local = "1" + "".join(segments) + "0"
    key = _number(v.epoch) + _release(v.release) + pre + post + dev + local
    if len(key) > SORT_KEY_LENGTH:
        raise InvalidVersion(str(version), reason="too many or too long parts to index")
    return key
