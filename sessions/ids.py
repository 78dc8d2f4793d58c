"""ULIDs: 128-bit ids that sort by creation time (48-bit milliseconds, 80 random bits)."""

from __future__ import annotations

import os
import threading
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford's base32
_lock = threading.Lock()
_last = (0, 0)


def new_ulid() -> str:
    """A new ULID; monotonic within one process even inside one millisecond."""
    global _last
    with _lock:
        millis = time.time_ns() // 1_000_000
        last_millis, last_random = _last
        if millis <= last_millis:
            millis, entropy = last_millis, last_random + 1
        else:
            entropy = int.from_bytes(os.urandom(10), "big")
        _last = (millis, entropy)
    value = (millis << 80) | (entropy & ((1 << 80) - 1))
    return "".join(_ALPHABET[(value >> shift) & 31] for shift in range(125, -1, -5))
