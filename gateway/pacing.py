"""Outbound pacing: WhatsApp bans numbers that burst like bots, so each number sends at a
steady rate (a token bucket), optionally showing "typing…" first like a person would."""

from __future__ import annotations

import asyncio
import time


class Pacer:
    """A token bucket: ``burst`` sends at once, then ``per_minute`` a minute."""

    def __init__(self, per_minute: int, burst: int) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self._tokens = float(burst)
        self._stamp = time.monotonic()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = time.monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    async def acquire(self) -> float:
        """Waits for a token (in arrival order); answers how long it waited, in seconds."""
        async with self._lock:
            self._refill()
            waited = 0.0
            if self._tokens < 1:
                waited = (1 - self._tokens) / self.rate
                await asyncio.sleep(waited)
                self._refill()
            self._tokens -= 1
            return waited


def typing_time(text: str) -> float:
    """How long a person would take to type ``text``, capped so nobody waits long."""
    return min(0.5 + len(text) * 0.03, 3.0)
