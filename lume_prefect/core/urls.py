"""URLs in messages: a password in a URL is never printed (SQL, S3 endpoints, anything)."""

from __future__ import annotations

import re

# user:password@ in any URL-looking text, whatever produced it
_URL_PASSWORD = re.compile(r"(\b[a-zA-Z][\w+.-]*://[^:/@\s]*:)[^@\s]*@")


def hide_passwords(text: str) -> str:
    """``text`` with the password of every URL in it replaced by ***."""
    return _URL_PASSWORD.sub(r"\1***@", text)
