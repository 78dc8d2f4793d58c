"""A circuit breaker for the AI endpoint: after N failures in a row, drafts fail at once for a
cool-down instead of piling up waiting on an endpoint that is down; then one try decides."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import TypeVar

from core.copilot.providers import CopilotFailure

T = TypeVar("T")


class Breaker:
    def __init__(
        self, failures: int, cooldown_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._limit = failures
        self._cooldown = cooldown_s
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None

    @property
    def is_open(self) -> bool:
        return self._opened_at is not None and self._clock() - self._opened_at < self._cooldown

    def allow(self) -> bool:
        """Closed, or cooled down (half-open: one try; its outcome closes or reopens)."""
        if self._opened_at is None:
            return True
        if self._clock() - self._opened_at >= self._cooldown:
            self._opened_at = self._clock()  # one try at a time while half-open
            return True
        return False

    def success(self) -> None:
        self._failures = 0
        self._opened_at = None

    def failure(self) -> None:
        self._failures += 1
        if self._failures >= self._limit:
            self._opened_at = self._clock()

    async def guard(self, stream: AsyncIterator[T]) -> AsyncIterator[T]:
        """``stream`` (a provider's) through the breaker: refused at once while it is open; a
        failure that is the endpoint's fault counts, a stream that ends closes the breaker."""
        if not self.allow():
            raise CopilotFailure(
                "provider_unavailable",
                "The AI endpoint failed repeatedly; drafts are paused for a moment.",
            )
        try:
            async for item in stream:
                yield item
        except CopilotFailure as failure:
            if failure.provider_fault:
                self.failure()
            raise
        self.success()
