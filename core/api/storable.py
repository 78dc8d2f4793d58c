"""Text no database can keep: NUL characters and lone UTF-16 surrogates.

JSON may carry both (``"\\u0000"``, ``"\\ud800"``) and pydantic lets them through, but PostgreSQL
refuses NUL in text and JSONB, and no driver can encode a lone surrogate as UTF-8. Found at the
edge, they are the caller's mistake (a 422 naming the field), not a crash deep in a query.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def unstorable(value: Any, where: str = "") -> str | None:
    """The path of the first string (or key) in ``value`` that cannot be stored, or None."""
    if isinstance(value, str):
        return _printable(where) if _UNSTORABLE.search(value) else None
    if isinstance(value, Mapping):
        for key, item in value.items():
            path = f"{where}.{key}" if where else str(key)
            if isinstance(key, str) and _UNSTORABLE.search(key):
                return _printable(path)
            if (found := unstorable(item, path)) is not None:
                return found
        return None
    if isinstance(value, list | tuple | set | frozenset):
        for index, item in enumerate(value):
            if (found := unstorable(item, f"{where}.{index}" if where else str(index))) is not None:
                return found
    return None


def _printable(path: str) -> str:
    """``path`` safe to show and log: the offending characters escaped."""
    return path.encode("ascii", "backslashreplace").decode()
