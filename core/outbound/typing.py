"""The attendant's typing indicator: at most one "typing" per conversation per window (the
browser sends one per keystroke); "paused" always goes through."""

from __future__ import annotations

import time

from aiohttp import web

PRUNE_AT = 10_000


class TypingThrottle:
    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self._last: dict[int, float] = {}

    def allow(self, conversation_id: int, typing: bool) -> bool:
        now = time.monotonic()
        if not typing:
            self._last.pop(conversation_id, None)  # the next "typing" is news again
            return True
        last = self._last.get(conversation_id)
        if last is not None and now - last < self.window_s:
            return False
        if len(self._last) >= PRUNE_AT:
            self._last = {k: t for k, t in self._last.items() if now - t < self.window_s}
        self._last[conversation_id] = now
        return True


TYPING = web.AppKey("typing_throttle", TypingThrottle)
